'use strict';
// Run before the tests: a clear message instead of a stack of failures when the package is not built.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const problems = [];
if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) problems.push('dist/ is missing: run `npm run build:ts`');
try {
  require('node-gyp-build').path(root);
} catch {
  problems.push('the native addon is not built: run `npm install` (or `npm run build:native`)');
}
// The LibTorch the addon runs with, and whose torch the tests' Python references import (scripts/libtorch.js).
if (!fs.existsSync(path.join(root, '.torch'))) problems.push('.torch (the link to the LibTorch in use) is missing: run `npm install` (or `npm run build:native`)');
if (problems.length) {
  console.error(`kds: cannot run the tests:\n  - ${problems.join('\n  - ')}`);
  process.exit(1);
}
