'use strict';
// Shared by the loss benchmarks: each measurement runs in a child process of its own (so its peak RSS is
// its own), which prints one JSON line last.
const { spawnSync } = require('node:child_process');

/** Runs `cmd args` with `env`; its last stdout line parsed as JSON, or { error } with the tail of stderr. */
function runJsonChild(cmd, args, env) {
  const p = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 1 << 20 });
  if (p.status !== 0) return { error: (p.stderr || `exit ${p.status} (signal ${p.signal})`).trim().split('\n').slice(-3).join(' ') };
  return JSON.parse(p.stdout.trim().split('\n').pop());
}

const mb = (b) => `${Math.round(b / 2 ** 20)} MB`;

module.exports = { runJsonChild, mb };
