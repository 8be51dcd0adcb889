'use strict';
// Shared by the loss benchmarks: each measurement runs in a child process of its own (so its peak RSS is
// its own), which prints one JSON line last.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');

/** Runs `cmd args` with `env`; its last stdout line parsed as JSON, or { error } with the tail of stderr. */
function runJsonChild(cmd, args, env) {
  const p = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 1 << 20 });
  if (p.status !== 0) return { error: (p.stderr || `exit ${p.status} (signal ${p.signal})`).trim().split('\n').slice(-3).join(' ') };
  return JSON.parse(p.stdout.trim().split('\n').pop());
}

const mb = (b) => `${Math.round(b / 2 ** 20)} MB`;

/** A memory field of /proc/self/status (VmRSS, VmHWM), in bytes. */
function status(field) {
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return Number(m[1]) * 1024;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

module.exports = { runJsonChild, mb, status, median };
