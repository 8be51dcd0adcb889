#!/usr/bin/env node
'use strict';
// A stand-in for `node-gyp rebuild ...` (prebuildify calls it with node-gyp's flags, which CMake does
// not need): runs the cmake-js build, leaving build/Release/kds.node for prebuildify to pick up.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const result = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js')], {
  cwd: path.resolve(__dirname, '..'), stdio: 'inherit',
});
process.exit(result.status ?? 1);
