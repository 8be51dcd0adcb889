#!/usr/bin/env node
// SA loss benchmark: time and peak memory of one forward + backward of FAKD's spatial-affinity loss,
// kds's fused loss (through the functional API, from Node) against the plain formula in PyTorch (Python,
// bench/sa_loss_plain.py). Every measurement runs in a fresh process, so its peak RSS (VmHWM) is its own.
//
//   npm run bench:sa                 all configurations (several minutes)
//   node bench/sa-loss.js --quick    the FAKD setting only, fewer repetitions
//
// Printed per run: median wall and CPU seconds per forward+backward over the repetitions (after one
// warm-up call); VmHWM (peak RSS of the process) after the first call and after all of them; and the
// loss's own peak: VmHWM after the first call minus the RSS just before it (the runtime, warmed up by one
// call on a tiny input, and the input feature maps are in that baseline). Speedup and memory ratio are against the plain formula in Python at
// the same setting and thread count.
'use strict';
const { spawnSync } = require('node:child_process');
const { mb, median, runJsonChild, status } = require('./child-run');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

const SETTINGS = [
  { name: 'FAKD 48x48', batch: 16, cs: 64, ct: 256, size: 48 },
  { name: '96x96', batch: 16, cs: 64, ct: 256, size: 96 },
  { name: '96x96', batch: 4, cs: 64, ct: 256, size: 96 },
  { name: '128x128', batch: 4, cs: 64, ct: 256, size: 128 },
];

// Bytes the plain formula needs at its peak: about five B x N x N float32 matrices (both affinities, their
// difference, |difference| and the mean's expanded gradient) on top of the inputs.
function plainBytes(s) {
  const n = s.size * s.size;
  return 5 * s.batch * n * n * 4;
}

// The matrix products of kds's fused loss at a setting, tiled as native/losses/affinity_fused.cc tiles them
// on the CPU (chooseAffinityTiles, upperTriangleJobs): per row block I, the diagonal tile and the tiles to
// its right; each computes D = zSigned_I^T z_J (k = Cs + Ct) and, for the gradient, s_J sign(D)^T and, off the
// diagonal, s_I sign(D). Returns the distinct [m, k, n] shapes with how often each runs per call.
function fusedGemms({ batch, cs, ct, size }) {
  const n = size * size;
  const roundUp = (v, m) => Math.ceil(v / m) * m;
  const balanced = (pixels, max) => Math.min(pixels, roundUp(Math.ceil(pixels / Math.ceil(pixels / max)), 16));
  const rows = balanced(n, 256);
  const cols = balanced(n, Math.max(rows, 2048));
  const counts = new Map();
  const add = (m, k, nn) => {
    const key = `${m},${k},${nn}`;
    counts.set(key, (counts.get(key) ?? 0) + batch);
  };
  for (let i0 = 0; i0 < n; i0 += rows) {
    const I = Math.min(rows, n - i0);
    add(I, cs + ct, I);
    add(cs, I, I);
    for (let j0 = i0 + I; j0 < n; j0 += cols) {
      const J = Math.min(cols, n - j0);
      add(I, cs + ct, J);
      add(cs, J, I);
      add(cs, I, J);
    }
  }
  return [...counts].map(([key, count]) => ({ shape: key.split(',').map(Number), count }));
}

// How close the fused loss comes to its matrix products: their FLOP count over this machine's measured
// single-thread GEMM rate at the same shapes, times the threads (each thread runs its own tiles).
function gemmBound(setting, threads) {
  const gemms = fusedGemms(setting);
  const p = spawnSync('python3', [path.join(__dirname, 'sa_loss_plain.py'), '--gemm-rate', JSON.stringify({ shapes: gemms.map((g) => g.shape), seconds: 1 })], {
    env: { ...pythonEnv(), OMP_NUM_THREADS: '1' },
    encoding: 'utf8',
  });
  if (p.status !== 0) throw new Error(`measuring the GEMM rate failed: ${p.stderr}`);
  const { rates } = JSON.parse(p.stdout.trim().split('\n').pop());
  let flops = 0;
  let seconds = 0;
  gemms.forEach((g, i) => {
    const f = 2 * g.shape[0] * g.shape[1] * g.shape[2] * g.count;
    flops += f;
    seconds += f / (rates[i].gflops * 1e9 * threads);
  });
  return { gflop: flops / 1e9, boundSeconds: seconds, rates };
}

// --- one measurement, in this (fresh) process ----------------------------------------------------------
async function child(job) {
  const kds = require(path.join(ROOT, 'dist', 'index.js'));
  kds.setNumThreads(job.threads);
  const { batch, cs, ct, size } = job;
  const read = (name, channels) => {
    const bytes = fs.readFileSync(path.join(job.inputs, `${name}.f32`));
    const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    return kds.Tensor.from({ data, shape: [batch, channels, size, size] });
  };
  const student = read('student', cs);
  const teacher = read('teacher', ct);
  // One tiny call starts the runtime's threads and buffers, which are not the loss's memory.
  const tiny = (channels) => ({ data: new Float32Array(2 * channels * 64).fill(0.5).map((v, i) => v + (i % 7)), shape: [2, channels, 8, 8] });
  (await kds.spatialAffinityLoss(tiny(cs), tiny(ct), { impl: job.impl })).grad.dispose();
  global.gc(); // the file buffers are garbage now: free them before the baseline, not during the calls
  const baseline = status('VmRSS');
  const times = [];
  const cpuTimes = [];
  let loss = 0;
  let firstHwm = 0;
  for (let r = 0; r <= job.reps; r++) {
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    const out = await kds.spatialAffinityLoss(student, teacher, { impl: job.impl });
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(c0);
    loss = out.loss;
    out.grad.dispose();
    if (r === 0) firstHwm = status('VmHWM'); // r = 0 warms up; its peak is one call's peak
    else {
      times.push(dt);
      cpuTimes.push((cpu.user + cpu.system) / 1e6);
    }
  }
  const hwm = status('VmHWM');
  const info = kds.info();
  const result = { seconds: median(times), cpuSeconds: median(cpuTimes), times, hwm, firstHwm, baseline, loss, threads: kds.getNumThreads(), torch: info.torchVersion };
  process.stdout.write(JSON.stringify(result) + '\n');
}

// --- the driver ------------------------------------------------------------------------------------------
function pythonEnv() {
  return { ...process.env, PYTHONPATH: require(path.join(ROOT, 'scripts', 'libtorch.js')).pythonPathForTorch() };
}

// Both sides read the same inputs, written once per setting (so their loss values can be compared).
function makeInputs(setting, dir) {
  const p = spawnSync('python3', [path.join(__dirname, 'sa_loss_plain.py'), '--make-inputs', JSON.stringify({ ...setting, inputs: dir })], {
    env: pythonEnv(),
    encoding: 'utf8',
  });
  if (p.status !== 0) throw new Error(`making inputs failed: ${p.stderr}`);
}

function run(kind, setting, impl, threads, reps, extraEnv = {}, inputs = '') {
  const job = { ...setting, impl, threads, reps, inputs };
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), ...extraEnv };
  let cmd;
  let args;
  if (kind === 'node') {
    cmd = process.execPath;
    args = ['--expose-gc', __filename, '--child', JSON.stringify(job)];
  } else {
    cmd = 'python3';
    args = [path.join(__dirname, 'sa_loss_plain.py'), JSON.stringify(job)];
    env.PYTHONPATH = pythonEnv().PYTHONPATH;
  }
  return runJsonChild(cmd, args, env);
}

function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(JSON.parse(args[1]));
  const quick = args.includes('--quick');
  const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m) || [])[1];
  console.log(`# SA loss forward+backward: kds fused (Node) vs plain formula (PyTorch, Python)`);
  console.log(`CPU: ${cpu}, ${os.cpus().length} logical cores; load average at start ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const rows = [];
  const settings = quick ? SETTINGS.slice(0, 1) : SETTINGS;
  const inputs = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-bench-sa-'));
  for (const s of settings) {
    const label = `${s.name}, B ${s.batch}, C ${s.cs} vs ${s.ct}`;
    makeInputs(s, inputs);
    const fakd = s === SETTINGS[0];
    // glibc keeps freed blocks of up to 32 MB in its per-thread arenas once its adaptive mmap threshold has
    // grown, and the calls run on different libuv threads: RSS creeps up over calls. A fixed threshold
    // (the extra row) shows how much of the all-calls peak is that retention.
    const fixedThreshold = { MALLOC_MMAP_THRESHOLD_: String(1 << 20) };
    const runs = [
      ['kds fused (Node)', 'node', 'fused', 2, quick ? 3 : fakd ? 7 : 3],
      ...(fakd && !quick
        ? [
            ['kds fused (Node)', 'node', 'fused', 1, 5],
            ['kds fused (Node), MALLOC_MMAP_THRESHOLD_=1 MB', 'node', 'fused', 2, 7, fixedThreshold],
          ]
        : []),
      ['plain, PyTorch (Python)', 'python', 'plain', 2, quick ? 2 : 3],
      ...(fakd && !quick ? [['plain, PyTorch (Python)', 'python', 'plain', 1, 3], ['kds plain (Node)', 'node', 'plain', 2, 3]] : []),
    ];
    for (const [who, kind, impl, threads, reps, extraEnv] of runs) {
      let result;
      if (impl === 'plain' && plainBytes(s) > 0.7 * os.freemem()) {
        result = { skipped: `not run: needs ~${(plainBytes(s) / 2 ** 30).toFixed(1)} GB, ${(os.freemem() / 2 ** 30).toFixed(1)} GB free` };
      } else {
        result = run(kind, s, impl, threads, reps, extraEnv, inputs);
      }
      const row = { setting: label, config: s, who, threads, reps, ...result };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
  fs.rmSync(inputs, { recursive: true, force: true });
  console.log('\n| setting | implementation | threads | median s (reps) | median CPU s | peak RSS, 1st call | peak RSS, all calls | loss peak, 1st call | speedup | less memory | loss value |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    if (r.skipped || r.error) {
      console.log(`| ${r.setting} | ${r.who} | ${r.threads} | ${r.skipped || 'failed: ' + r.error} | | | | | | | |`);
      continue;
    }
    // against the plain formula in Python with the same setting and thread count
    const plain = rows.find((p) => p.setting === r.setting && p.who.startsWith('plain,') && p.threads === r.threads && p.seconds);
    const ratio = plain && r !== plain ? `${(plain.seconds / r.seconds).toFixed(1)}x` : '';
    const memRatio = plain && r !== plain ? `${((plain.firstHwm - plain.baseline) / (r.firstHwm - r.baseline)).toFixed(1)}x` : '';
    console.log(
      `| ${r.setting} | ${r.who} | ${r.threads} | ${r.seconds.toFixed(3)} (${r.reps}) | ${r.cpuSeconds.toFixed(3)} | ${mb(r.firstHwm)} | ${mb(r.hwm)} | ` +
        `${mb(r.firstHwm - r.baseline)} | ${ratio} | ${memRatio} | ${r.loss.toPrecision(7)} |`,
    );
  }
  const fusedRows = rows.filter((r) => r.who.startsWith('kds fused') && r.seconds && !r.who.includes('MALLOC'));
  if (fusedRows.length) {
    console.log('\n| setting | threads | GFLOP of GEMMs | median s | achieved GFLOP/s | GEMM-rate bound s | x bound | single-thread GEMM GFLOP/s at the tile shapes |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of fusedRows) {
      const b = gemmBound(r.config, r.threads);
      const rates = b.rates.map((x) => `${x.shape.join('x')}: ${x.gflops.toFixed(1)}`).join(', ');
      console.log(`| ${r.setting} | ${r.threads} | ${b.gflop.toFixed(1)} | ${r.seconds.toFixed(3)} | ${(b.gflop / r.seconds).toFixed(1)} | ` +
        `${b.boundSeconds.toFixed(3)} | ${(r.seconds / b.boundSeconds).toFixed(2)} | ${rates} |`);
    }
  }
  console.log(`\nload average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; torch (Node) ${rows.find((r) => r.torch && r.who.startsWith('kds'))?.torch ?? '?'}, torch (Python) ${rows.find((r) => r.torch && r.who.startsWith('plain,'))?.torch ?? '?'}`);
}

const done = main();
if (done && done.catch)
  done.catch((err) => {
    console.error(err);
    process.exit(1);
  });
