'use strict';
// `npm install`: make sure a LibTorch is there (found or installed: scripts/libtorch.js) and linked as
// .torch, then use the prebuilt addon from prebuilds/ if it loads here against that LibTorch, else
// compile it with cmake-js.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { findLibTorch, linkLibTorch } = require('./libtorch');

const root = path.resolve(__dirname, '..');

/** The version a LibTorch folder says it is (wheel: torch/version.py; zip: build-version), or null. */
function libTorchVersion(torch) {
  for (const [file, pattern] of [['version.py', /__version__\s*=\s*'([^']+)'/], ['build-version', /^(\S+)/]]) {
    try {
      const m = pattern.exec(fs.readFileSync(path.join(torch.root, file), 'utf8'));
      if (m) return m[1];
    } catch {
      // not this layout
    }
  }
  return null;
}

/**
 * Whether prebuilds/ holds an addon that loads here, runs with this LibTorch (not another one its RUNPATH
 * names) and was built against this LibTorch version.
 */
function prebuiltFits(torch) {
  const probe = spawnSync(process.execPath, ['-e',
    `process.stdout.write(JSON.stringify(require('node-gyp-build')(${JSON.stringify(root)}).buildInfo()))`], {
    cwd: root, env: { ...process.env, PREBUILDS_ONLY: '1' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'],
  });
  if (probe.status !== 0) return false;
  let info;
  try {
    info = JSON.parse(probe.stdout);
  } catch {
    return false;
  }
  const real = (p) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return p;
    }
  };
  if (real(info.libtorchDir) !== real(torch.root)) {
    console.error(`kds: the prebuilt addon runs with the LibTorch in ${info.libtorchDir}, not ${torch.root}: compiling instead`);
    return false;
  }
  const built = info.torchVersion;
  const here = libTorchVersion(torch);
  if (here && built && here.split('+')[0] !== built.split('+')[0]) {
    console.error(`kds: the prebuilt addon was built against LibTorch ${built}, this LibTorch is ${here}: compiling instead`);
    return false;
  }
  return true;
}

function main() {
  if (process.env.KDS_SKIP_INSTALL) return;
  let torch;
  try {
    torch = findLibTorch();
  } catch (err) {
    console.error(`\n${err.message}\n`);
    process.exit(1);
  }
  linkLibTorch(torch);
  if (fs.existsSync(path.join(root, 'prebuilds')) && prebuiltFits(torch)) {
    console.error(`kds: using the prebuilt addon in prebuilds/ with LibTorch from ${torch.source}: ${torch.root}`);
    return;
  }
  const result = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js')], { cwd: root, stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

main();
