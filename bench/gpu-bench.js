#!/usr/bin/env node
'use strict';
// The GPU training-step benchmark (run by bench/gpu-check.sh on a lent GPU machine): kds
// (bench/kds_step.js) against plain FAKD in PyTorch (bench/fakd_step.py) on the same GPU, same shapes, in
// fp32, bf16 autocast, and bf16 with channels-last; cuDNN autotuning on for both. Each run is a fresh
// process; kds and PyTorch alternate. kds uses its fused SA loss, PyTorch FAKD's full affinity matrices.
//
//   node bench/gpu-bench.js [--device cuda] [--quick] [--compile]
//
// Prints a Markdown table (median step time of each side; speedup = PyTorch / kds) and writes the raw
// results to bench/results/gpu-bench-*.json. --compile adds issue 20's anchor at FAKD's shape: PyTorch's
// fp32 step under torch.compile (bench/fakd_step.py "compile"), and every kds mode's step as a fraction of
// it (the target: a bf16 teacher with an fp32 student at most 0.3 of it).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');
const TEACHER = [16, 64];
const STUDENT = [8, 32];
const SCALE = 2;
// FAKD's training shape (batch 16, LR patch 48), and a larger patch where the full affinity matrices of
// the PyTorch reference take ~40 GB.
const CONFIGS = [{ batch: 16, patch: 48 }, { batch: 8, patch: 96 }];
const MODES = [
  { name: 'fp32', precision: 'fp32', channelsLast: false },
  { name: 'bf16', precision: 'bf16', channelsLast: false },
  { name: 'bf16 + channels_last', precision: 'bf16', channelsLast: true },
  { name: 'bf16 teacher, fp32 student', precision: 'fp32', teacherPrecision: 'bf16', channelsLast: false },
];

// A median in ms for a table; a failed run is "failed".
function ms(x) {
  return Number.isNaN(x) ? 'failed' : x.toFixed(2);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function runOne(impl, cfg) {
  const [command, args] = impl === 'kds'
    ? [process.execPath, [path.join(__dirname, 'kds_step.js'), JSON.stringify({ ...cfg, sa: 'fused' })]]
    : ['python3', [path.join(__dirname, 'fakd_step.py'), JSON.stringify({ ...cfg, sa: 'plain' })]];
  const started = Date.now();
  const child = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  const seconds = (Date.now() - started) / 1000;
  if (child.status !== 0) {
    const lines = (child.stderr || '').trim().split('\n');
    return { error: lines.find((l) => /^\w*Error\b|^\w+Error:/.test(l.trim())) ?? lines.slice(-3).join(' | '), seconds };
  }
  const lines = child.stdout.trim().split('\n');
  return { ...JSON.parse(lines[lines.length - 1]), seconds };
}

// PyTorch's fp32 FAKD step at FAKD's shape under torch.compile (inductor; its first step compiles).
function compiledAnchor(device, steps) {
  const cfg = { teacher: TEACHER, student: STUDENT, scale: SCALE, ...CONFIGS[0], threads: 4, device, precision: 'fp32',
    channelsLast: false, cudnnBenchmark: true, compile: true, ...steps };
  const r = runOne('pytorch', cfg);
  console.error(`  b${cfg.batch} p${cfg.patch} fp32 pytorch compiled: ${r.error ? `FAILED (${r.error})` : `median ${median(r.stepMs).toFixed(2)} ms, first step (compiles) ${(r.firstStepMs / 1000).toFixed(1)} s`} [${r.seconds.toFixed(1)} s]`);
  return r;
}

function compiledTable(anchor, fakdShape) {
  const c = anchor.error ? NaN : median(anchor.stepMs);
  const first = anchor.error ? 'failed' : `${(anchor.firstStepMs / 1000).toFixed(1)} s`;
  return [
    '',
    `Against PyTorch's fp32 step under torch.compile at b${CONFIGS[0].batch} p${CONFIGS[0].patch}: ${ms(c)} ms (first step, compiling: ${first}).`,
    '',
    '| kds mode | kds ms | compiled fp32 PyTorch ms | time ratio |',
    '|---|---|---|---|',
    ...fakdShape.map(([name, k]) => `| ${name} | ${ms(k)} | ${ms(c)} | ${Number.isNaN(k / c) ? '–' : (k / c).toFixed(2)} |`),
  ];
}

function main() {
  const { values } = parseArgs({
    options: { device: { type: 'string', default: 'cuda' }, quick: { type: 'boolean', default: false }, compile: { type: 'boolean', default: false } },
  });
  const configs = values.quick ? CONFIGS.slice(0, 1) : CONFIGS;
  const steps = { warmup: 3, minSteps: 10, maxSteps: 60, budgetMs: 3000 };
  const rows = [];
  const raw = [];
  let gpu = null;
  const fakdShape = [];  // [mode name, kds median ms] at FAKD's shape, for the compiled anchor
  for (const config of configs) {
    for (const mode of MODES) {
      const cfg = { teacher: TEACHER, student: STUDENT, scale: SCALE, ...config, threads: 4, device: values.device,
        precision: mode.precision, teacherPrecision: mode.teacherPrecision, channelsLast: mode.channelsLast, cudnnBenchmark: true, ...steps };
      const result = {};
      for (const impl of ['kds', 'pytorch']) {
        const r = runOne(impl, cfg);
        result[impl] = r;
        gpu = gpu ?? r.gpu ?? null;
        console.error(`  b${config.batch} p${config.patch} ${mode.name} ${impl}: ${r.error ? `FAILED (${r.error})` : `median ${median(r.stepMs).toFixed(2)} ms over ${r.stepMs.length} steps, peak RSS ${(r.peakRssKB / 1024).toFixed(0)} MB`} [${r.seconds.toFixed(1)} s]`);
      }
      raw.push({ config, mode, result });
      const k = result.kds.error ? NaN : median(result.kds.stepMs);
      const p = result.pytorch.error ? NaN : median(result.pytorch.stepMs);
      rows.push(`| b${config.batch} p${config.patch} | ${mode.name} | ${ms(k)} | ${ms(p)} | ${Number.isNaN(p / k) ? '–' : `${(p / k).toFixed(2)}x`} |`);
      if (config === CONFIGS[0]) fakdShape.push([mode.name, k]);
    }
  }
  const anchor = values.compile ? compiledAnchor(values.device, steps) : null;
  if (anchor) raw.push({ config: CONFIGS[0], mode: { name: 'fp32, PyTorch under torch.compile' }, result: { pytorch: anchor } });
  const md = [
    `GPU: ${gpu ?? 'unknown'}; teacher EDSR r${TEACHER[0]}f${TEACHER[1]}, student r${STUDENT[0]}f${STUDENT[1]}, x${SCALE}; cuDNN autotuning on.`,
    'Median step (ms): kds (fused SA) vs PyTorch FAKD (full affinity matrices), both copying host batches each step.',
    '',
    '| batch, LR patch | mode | kds ms | PyTorch ms | speedup |',
    '|---|---|---|---|---|',
    ...rows,
    ...(anchor ? compiledTable(anchor, fakdShape) : []),
  ].join('\n');
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `gpu-bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ gpu, teacher: TEACHER, student: STUDENT, scale: SCALE, steps, runs: raw }, null, 1));
  console.log(md);
  console.error(`gpu-bench: raw results in ${path.relative(ROOT, file)}`);
}

main();
