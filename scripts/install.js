'use strict';
// `npm install`: make sure a LibTorch is there (found or installed: scripts/libtorch.js), then use a
// prebuilt addon from prebuilds/ if one loads here, else compile it with cmake-js.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { findLibTorch } = require('./libtorch');

const root = path.resolve(__dirname, '..');

function prebuiltLoads() {
  const probe = spawnSync(process.execPath, ['-e', `require('node-gyp-build')(${JSON.stringify(root)})`], {
    cwd: root, env: { ...process.env, PREBUILDS_ONLY: '1' }, stdio: 'ignore',
  });
  return probe.status === 0;
}

function main() {
  if (process.env.KDS_SKIP_INSTALL) return;
  try {
    findLibTorch();
  } catch (err) {
    console.error(`\nkds: ${err.message}\n`);
    process.exit(1);
  }
  if (prebuiltLoads()) {
    console.error('kds: using the prebuilt addon in prebuilds/ (no compilation needed)');
    return;
  }
  const result = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js')], { cwd: root, stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

main();
