#!/usr/bin/env node
'use strict';
// The `kds` command; see docs/cli.md or `kds --help`.
require('../dist/cli/main.js')
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
