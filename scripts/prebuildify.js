'use strict';
// `npm run prebuildify`: packs the addon into prebuilds/<platform>-<arch>/ with prebuildify (N-API, so one
// binary serves every Node version). prebuildify only knows node-gyp; it is pointed at a stand-in,
// scripts/node-gyp-cmake.js, that runs the cmake-js build, so CMakeLists.txt stays the only build.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const result = spawnSync(process.execPath, [require.resolve('prebuildify/bin.js'), '--napi', '--strip',
  `--node-gyp=${path.join(__dirname, 'node-gyp-cmake.js')}`], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
