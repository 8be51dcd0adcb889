'use strict';
// Builds the addon with cmake-js against the LibTorch that scripts/libtorch.js finds (or installs).
// CMakeLists.txt is the one description of the build; binding.gyp forwards node-gyp here.
const { spawnSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { findLibTorch } = require('./libtorch');

const root = path.resolve(__dirname, '..');

function main() {
  let torch;
  try {
    torch = findLibTorch();
  } catch (err) {
    console.error(`\nkds: cannot build the native addon: ${err.message}\n`);
    process.exit(1);
  }
  console.error(`kds: building against LibTorch from ${torch.source}: ${torch.root}`);
  const jobs = process.env.KDS_BUILD_JOBS || String(Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 4)));
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const out = process.env.KDS_BUILD_DIR ? path.resolve(process.env.KDS_BUILD_DIR) : path.join(root, 'build');
  const args = [cmakeJs, process.argv.includes('--rebuild') ? 'rebuild' : 'build', '--out', out,
    '--parallel', jobs, `--CDCMAKE_PREFIX_PATH=${torch.cmakePrefix}`];
  if (process.env.KDS_CMAKE_ARGS) for (const a of process.env.KDS_CMAKE_ARGS.split(/\s+/).filter(Boolean)) args.push(`--CD${a.replace(/^-D/, '')}`);
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('\nkds: the native build failed (see the compiler output above).');
    process.exit(result.status ?? 1);
  }
}

main();
