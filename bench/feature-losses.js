#!/usr/bin/env node
// Feature-term benchmark: time and peak memory of one forward + backward of each feature-distillation
// term (featureLoss, from Node) against the authors' plain formula in PyTorch (Python,
// bench/feature_losses_plain.py), at the FAKD setting: batch 16, 48 x 48 feature maps, three positions,
// 64 channels on both sides (RCAN's teacher and student; CA, FSP and fitnet need equal channels), PSA/RBF/MMD
// pooled with max 2. Every measurement runs in a fresh process, so its peak RSS (VmHWM) is its own.
//
//   node bench/feature-losses.js               every term (several minutes; never on a shared machine)
//   node bench/feature-losses.js SA RBF        the named terms only
//
// Printed per run: median wall and CPU seconds per forward+backward over the repetitions (after one warm-up
// call), VmHWM after the first call, and the loss's own peak: VmHWM after the first call minus the RSS just
// before it (runtime and inputs are in that baseline). Ratios are against the plain formula in Python.
'use strict';
const { spawnSync } = require('node:child_process');
const { mb, median, runJsonChild, status } = require('./child-run');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const SETTING = { batch: 16, cs: 64, ct: 64, size: 48, positions: 3 };
const POOLED = { pool: 'max', poolSize: 2 };
const TERMS = [
  { type: 'SA', options: {} },
  { type: 'PSA', options: POOLED },
  { type: 'RBF', options: { ...POOLED, P: 2, gamma: 5 } },
  { type: 'MMD', options: POOLED },
  { type: 'CA', options: {} },
  { type: 'IA', options: {} },
  { type: 'FSP', options: {} },
  { type: 'AT', options: {} },
  { type: 'fitnet', options: {} },
];

// Bytes of one B x N' x N' float32 matrix of an N x N term (N' after pooling), for the plain formula's guard.
function pairBytes(term) {
  const side = Math.ceil(SETTING.size / (term.options.poolSize ?? 1));
  return SETTING.batch * side ** 4 * 4;
}

async function child(job) {
  const kds = require(path.join(ROOT, 'dist', 'index.js'));
  kds.setNumThreads(job.threads);
  const read = (name, channels) => {
    const bytes = fs.readFileSync(path.join(job.inputs, `${name}.f32`));
    const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    return kds.Tensor.from({ data, shape: [job.batch, channels, job.size, job.size] });
  };
  const students = Array.from({ length: job.positions }, (_, i) => read(`s${i}`, job.cs));
  const teachers = Array.from({ length: job.positions }, (_, i) => read(`t${i}`, job.ct));
  const tiny = (channels) => ({ data: Float32Array.from({ length: 2 * channels * 64 }, (_, i) => 0.5 + (i % 7)), shape: [2, channels, 8, 8] });
  const small = Array.from({ length: job.positions }, () => tiny(job.cs));
  const smallT = Array.from({ length: job.positions }, () => tiny(job.ct));
  const options = { ...job.options, impl: job.impl };
  if (!['SA', 'PSA', 'RBF', 'MMD'].includes(job.type)) delete options.impl;
  for (const g of (await kds.featureLoss(job.type, small, smallT, options)).grads) g.dispose();
  global.gc();
  const baseline = status('VmRSS');
  const times = [];
  const cpuTimes = [];
  let loss = 0;
  let firstHwm = 0;
  for (let r = 0; r <= job.reps; r++) {
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    const out = await kds.featureLoss(job.type, students, teachers, options);
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(c0);
    loss = out.loss;
    for (const g of out.grads) g.dispose();
    if (r === 0) firstHwm = status('VmHWM');
    else {
      times.push(dt);
      cpuTimes.push((cpu.user + cpu.system) / 1e6);
    }
  }
  process.stdout.write(JSON.stringify({ seconds: median(times), cpuSeconds: median(cpuTimes), times, hwm: status('VmHWM'), firstHwm, baseline, loss, threads: kds.getNumThreads() }) + '\n');
}

function pythonPath() {
  return require(path.join(ROOT, 'scripts', 'libtorch.js')).pythonPathForTorch();
}

function run(kind, job) {
  const env = { ...process.env, OMP_NUM_THREADS: String(job.threads), PYTHONPATH: pythonPath() };
  const [cmd, args] = kind === 'node'
    ? [process.execPath, ['--expose-gc', __filename, '--child', JSON.stringify(job)]]
    : ['python3', [path.join(__dirname, 'feature_losses_plain.py'), JSON.stringify(job)]];
  return runJsonChild(cmd, args, env);
}

function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(JSON.parse(args[1]));
  const wanted = args.length ? TERMS.filter((t) => args.includes(t.type)) : TERMS;
  const threads = 2;
  const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m) || [])[1];
  console.log(`# Feature terms forward+backward, B ${SETTING.batch}, ${SETTING.positions} positions of ${SETTING.cs} vs ${SETTING.ct} channels, ${SETTING.size}x${SETTING.size}`);
  console.log(`CPU: ${cpu}, ${os.cpus().length} logical cores, ${threads} threads; load average at start ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const inputs = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-bench-features-'));
  const made = spawnSync('python3', [path.join(__dirname, 'feature_losses_plain.py'), '--make-inputs', JSON.stringify({ ...SETTING, inputs })], {
    env: { ...process.env, PYTHONPATH: pythonPath() },
    encoding: 'utf8',
  });
  if (made.status !== 0) throw new Error(`making inputs failed: ${made.stderr}`);
  const rows = [];
  for (const term of wanted) {
    const nByN = ['SA', 'PSA', 'RBF', 'MMD'].includes(term.type);
    const job = { ...SETTING, ...term, threads, inputs };
    const runs = [['kds (Node)', 'node', { ...job, impl: 'fused', reps: 5 }]];
    if (nByN) runs.push(['kds plain (Node)', 'node', { ...job, impl: 'plain', reps: 3 }]);
    runs.push(['plain, PyTorch (Python)', 'python', { ...job, reps: 3 }]);
    for (const [who, kind, j] of runs) {
      const tooBig = nByN && who !== 'kds (Node)' && 5 * pairBytes(term) > 0.7 * os.freemem();
      const result = tooBig ? { skipped: `not run: needs ~${((5 * pairBytes(term)) / 2 ** 30).toFixed(1)} GB` } : run(kind, j);
      const row = { term: term.type, who, ...result };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
  fs.rmSync(inputs, { recursive: true, force: true });
  console.log('\n| term | implementation | median s | median CPU s | peak RSS, 1st call | loss peak, 1st call | speedup | less memory | loss |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    if (r.skipped || r.error) {
      console.log(`| ${r.term} | ${r.who} | ${r.skipped || 'failed: ' + r.error} | | | | | | |`);
      continue;
    }
    const plain = rows.find((p) => p.term === r.term && p.who.startsWith('plain,') && p.seconds);
    const speed = plain && r !== plain ? `${(plain.seconds / r.seconds).toFixed(1)}x` : '';
    const mem = plain && r !== plain ? `${((plain.firstHwm - plain.baseline) / Math.max(1, r.firstHwm - r.baseline)).toFixed(1)}x` : '';
    console.log(`| ${r.term} | ${r.who} | ${r.seconds.toFixed(3)} | ${r.cpuSeconds.toFixed(3)} | ${mb(r.firstHwm)} | ${mb(r.firstHwm - r.baseline)} | ${speed} | ${mem} | ${r.loss.toPrecision(7)} |`);
  }
}

const done = main();
if (done && done.catch)
  done.catch((err) => {
    console.error(err);
    process.exit(1);
  });
