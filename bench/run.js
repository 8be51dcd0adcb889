#!/usr/bin/env node
'use strict';
// The training-step benchmark: kds (bench/kds_step.js) against plain FAKD in PyTorch (bench/fakd_step.py),
// same shapes, same thread count, same torch build, alternating within one run. Every configuration runs in
// a fresh process, so each process's VmHWM is the peak memory of that configuration alone.
//
//   npm run bench                 the full grid (see GRID)
//   npm run bench -- --quick      a small subset, a few minutes
//   options: --threads N (default 2), --reps N, --filter TEXT (run configurations whose label contains it),
//            --max-plain-gb X (skip full-affinity variants estimated to need more; default 60% of MemAvailable),
//            --omp-wait-policy active|passive (sets OMP_WAIT_POLICY for both sides; default: left as it is),
//            --no-compile (leave out the torch.compile variants: each process compiles for a minute or more),
//            --channels-last (also run kds and PyTorch with channels-last models and batches)
//
// torch.compile's inductor caches compiled graphs on disk: this run gives it a fresh cache folder
// (bench/results/inductor-<date>), so the first process of a configuration compiles from nothing (its
// first step is reported as the cold compile time) and later repetitions reuse the cache, as a user's
// second run would.
//
// Run it on a quiet machine: with its default active spin-waiting, PyTorch's OpenMP threads slow down
// several-fold when other processes compete for the cores, which would flatter kds.
//
// Prints Markdown tables and writes the raw results to bench/results/ (git-ignored).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { pythonPathForTorch } = require('../scripts/libtorch.js');
const { median, summarize, renderReport } = require('./report.js');

const ROOT = path.resolve(__dirname, '..');
const TEACHER = [16, 64]; // EDSR r16f64 (the EDSR baseline as teacher): FAKD's r32f256 scaled to 2 cores
const SCALE = 2;
const FEATURE_TAPS = 4; // head and three block groups: the SA loss is taken at every tap

// kds variants and the PyTorch runs each is compared with: eager (`reference`) and torch.compile
// (`compiledReference`: inductor on the teacher forward and the student forward with the losses).
const VARIANTS = [
  { name: 'kds SA fused', impl: 'kds', sa: 'fused', reference: 'pytorch SA', compiledReference: 'pytorch SA compiled' },
  { name: 'pytorch SA', impl: 'pytorch', sa: 'plain' },
  { name: 'pytorch SA compiled', impl: 'pytorch', sa: 'plain', compile: true },
  { name: 'kds SA plain', impl: 'kds', sa: 'plain', reference: 'pytorch SA', compiledReference: 'pytorch SA compiled' },
  { name: 'pytorch SA off', impl: 'pytorch', sa: 'off' },
  { name: 'pytorch SA off compiled', impl: 'pytorch', sa: 'off', compile: true },
  { name: 'kds SA off', impl: 'kds', sa: 'off', reference: 'pytorch SA off', compiledReference: 'pytorch SA off compiled' },
];
// With --channels-last: both sides again with models and batches in NHWC strides, which oneDNN's CPU
// convolutions also run faster (kds: setMemoryFormat('channels_last'); PyTorch: .to(memory_format=...)).
const CHANNELS_LAST_VARIANTS = [
  { name: 'kds SA fused, channels-last', impl: 'kds', sa: 'fused', channelsLast: true, reference: 'pytorch SA, channels-last', compiledReference: 'pytorch SA compiled, channels-last' },
  { name: 'pytorch SA, channels-last', impl: 'pytorch', sa: 'plain', channelsLast: true },
  { name: 'pytorch SA compiled, channels-last', impl: 'pytorch', sa: 'plain', channelsLast: true, compile: true },
];

// The FAKD shape (students r4f16..r8f32, batch 4 and 16, LR patch 24/48/96, x2). Patch 96 runs at batch 4
// only: at batch 16 one step takes minutes on 2 cores and the full affinity matrices need ~65 GB.
const GRID = [];
for (const student of [[4, 16], [8, 32]])
  for (const batch of [4, 16])
    for (const patch of [24, 48, 96]) if (!(patch === 96 && batch === 16)) GRID.push({ student, batch, patch });
const QUICK_GRID = [
  { student: [4, 16], batch: 4, patch: 24 },
  { student: [8, 32], batch: 4, patch: 48 },
];

function options() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      threads: { type: 'string', default: '2' },
      reps: { type: 'string' },
      filter: { type: 'string' },
      'max-plain-gb': { type: 'string' },
      'omp-wait-policy': { type: 'string' },
      'no-compile': { type: 'boolean', default: false },
      'channels-last': { type: 'boolean', default: false },
    },
  });
  const threads = Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be a positive integer, got ${values.threads}`);
  const reps = Number(values.reps ?? (values.quick ? 2 : 3));
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer, got ${values.reps}`);
  const maxPlainGB = Number(values['max-plain-gb'] ?? (0.6 * memAvailableKB()) / 2 ** 20);
  if (!(maxPlainGB > 0)) throw new Error(`--max-plain-gb must be a positive number, got ${values['max-plain-gb']}`);
  const waitPolicy = values['omp-wait-policy'];
  if (waitPolicy !== undefined && !['active', 'passive'].includes(waitPolicy))
    throw new Error(`--omp-wait-policy must be 'active' or 'passive', got ${waitPolicy}`);
  return {
    quick: values.quick,
    compile: !values['no-compile'],
    channelsLast: values['channels-last'],
    ompWaitPolicy: waitPolicy,
    threads,
    reps,
    filter: values.filter,
    maxPlainGB,
    // Per process: warm-up steps, then at least minSteps and, while under budgetMs, up to maxSteps.
    steps: values.quick ? { warmup: 1, minSteps: 3, maxSteps: 6, budgetMs: 2000 } : { warmup: 1, minSteps: 3, maxSteps: 10, budgetMs: 5000 },
  };
}

function memAvailableKB() {
  const line = fs.readFileSync('/proc/meminfo', 'utf8').split('\n').find((l) => l.startsWith('MemAvailable:'));
  return parseInt(line.split(/\s+/)[1], 10);
}

function label(config) {
  return `r${config.student[0]}f${config.student[1]} b${config.batch} p${config.patch}`;
}

// The full-affinity formula holds, per tap, about four B x N x N fp32 matrices at its peak (the student's
// and the teacher's affinity, their difference, its gradient): PyTorch measured 5.4 GB at batch 16, 48x48
// against 4.1 GB estimated here.
function plainAffinityGB(config) {
  const n = config.patch * config.patch;
  return (FEATURE_TAPS * 4 * config.batch * n * n * 4) / 2 ** 30;
}

function runOne(variant, config, opts) {
  const cfg = { teacher: TEACHER, student: config.student, scale: SCALE, batch: config.batch, patch: config.patch, sa: variant.sa, threads: opts.threads, compile: variant.compile, channelsLast: variant.channelsLast, ...opts.steps };
  const env = { ...process.env };
  if (opts.ompWaitPolicy) env.OMP_WAIT_POLICY = opts.ompWaitPolicy.toUpperCase();
  const [command, args] =
    variant.impl === 'kds'
      ? [process.execPath, [path.join(__dirname, 'kds_step.js'), JSON.stringify(cfg)]]
      : ['python3', [path.join(__dirname, 'fakd_step.py'), JSON.stringify(cfg)]];
  if (variant.impl === 'pytorch') {
    env.PYTHONPATH = pythonPathForTorch();
    // Cache torch's compiled bytecode outside its folder: without it every process recompiles torch's
    // Python sources, which costs tens of seconds a start (the step timings are unaffected).
    delete env.PYTHONDONTWRITEBYTECODE;
    env.PYTHONPYCACHEPREFIX = path.join(__dirname, 'results', '.pycache');
    env.TORCHINDUCTOR_CACHE_DIR = opts.inductorCache;
  }
  const started = Date.now();
  const child = spawnSync(command, args, { cwd: ROOT, env, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  const seconds = (Date.now() - started) / 1000;
  const loadAfter = os.loadavg()[0];
  if (child.status !== 0) {
    const why = child.signal ? `killed by ${child.signal}` : `exit code ${child.status}`;
    return { error: `${why}: ${(child.stderr || '').trim().split('\n').slice(-3).join(' | ')}`, seconds, loadAfter };
  }
  const lines = child.stdout.trim().split('\n');
  return { ...JSON.parse(lines[lines.length - 1]), seconds, loadAfter };
}

function machine(opts) {
  const cpuModel = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1] || os.cpus()[0]?.model;
  return {
    cpuModel,
    logicalCpus: os.cpus().length,
    memoryGB: +(os.totalmem() / 2 ** 30).toFixed(1),
    threads: opts.threads,
    node: process.version,
    python: spawnSync('python3', ['--version'], { encoding: 'utf8' }).stdout.trim(),
    loadAverageAtStart: os.loadavg().map((x) => +x.toFixed(2)),
    date: new Date().toISOString(),
  };
}

function main() {
  const opts = options();
  const grid = (opts.quick ? QUICK_GRID : GRID).filter((c) => !opts.filter || label(c).includes(opts.filter));
  const info = machine(opts);
  const variants = [...VARIANTS, ...(opts.channelsLast ? CHANNELS_LAST_VARIANTS : [])].filter((v) => opts.compile || !v.compile);
  opts.inductorCache = path.join(__dirname, 'results', `inductor-${info.date.replace(/[:.]/g, '-')}`);
  if (info.loadAverageAtStart[0] > 0.5)
    console.error(`bench: warning: load average ${info.loadAverageAtStart[0]}: other processes compete for the cores (see the note at the top of bench/run.js)`);
  console.error(`bench: ${grid.length} configurations x ${opts.reps} repetitions, ${opts.threads} threads, load ${info.loadAverageAtStart.join(' ')}`);
  const started = Date.now();
  const results = [];
  for (const config of grid) {
    const skipPlain = plainAffinityGB(config) > opts.maxPlainGB;
    const runs = Object.fromEntries(variants.map((v) => [v.name, []]));
    for (let rep = 0; rep < opts.reps; rep++) {
      // Alternate kds and PyTorch; reverse the order every other repetition so drift affects both alike.
      const order = rep % 2 === 0 ? variants : [...variants].reverse();
      for (const variant of order) {
        if (skipPlain && variant.sa === 'plain') continue;
        const r = runOne(variant, config, opts);
        runs[variant.name].push(r);
        const what = r.error ? `FAILED (${r.error})` : `median ${median(r.stepMs).toFixed(1)} ms, peak ${(r.peakRssKB / 1024).toFixed(0)} MB`;
        console.error(`  ${label(config)} rep ${rep + 1} ${variant.name}: ${what} [${r.seconds.toFixed(1)} s]`);
      }
    }
    const skipped = skipPlain
      ? `full affinity matrices need at least ${plainAffinityGB(config).toFixed(1)} GB (limit ${opts.maxPlainGB.toFixed(1)} GB)`
      : undefined;
    results.push({ config, label: label(config), skippedPlain: skipped, variants: Object.fromEntries(variants.map((v) => [v.name, summarize(runs[v.name])])), runs });
  }
  info.loadAverageAtEnd = os.loadavg().map((x) => +x.toFixed(2));
  info.wallMinutes = +((Date.now() - started) / 60000).toFixed(1);
  const loads = results.flatMap((r) => Object.values(r.runs).flat().map((x) => x.loadAfter));
  info.loadDuringRun = { mean: +(loads.reduce((a, b) => a + b, 0) / loads.length).toFixed(2), max: +Math.max(...loads).toFixed(2) };
  const allRuns = results.flatMap((r) => Object.values(r.runs).flat()).filter((x) => !x.error);
  for (const impl of ['kds', 'pytorch'])
    info[`${impl}TorchVersion`] = [...new Set(allRuns.filter((x) => x.impl === impl).map((x) => x.torchVersion))].join(', ');
  fs.rmSync(opts.inductorCache, { recursive: true, force: true });
  const report = { machine: info, options: opts, teacher: TEACHER, scale: SCALE, variants, results };
  const markdown = renderReport(report);
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const stem = path.join(dir, `bench-${opts.quick ? 'quick-' : ''}${info.date.replace(/[:.]/g, '-')}`);
  fs.writeFileSync(`${stem}.json`, JSON.stringify(report, null, 1));
  fs.writeFileSync(`${stem}.md`, markdown);
  console.log(markdown);
  console.error(`bench: done in ${info.wallMinutes} min; results in ${path.relative(ROOT, stem)}.{json,md}`);
}

main();
