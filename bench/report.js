'use strict';
// Statistics over the per-process results of bench/run.js and their Markdown rendering.

const PHASES = ['prepare', 'teacherForward', 'studentForward', 'loss', 'backward', 'optimizer', 'outside', 'total'];

function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

function median(values) {
  return percentile(values, 50);
}

// Pools the measured steps of every process (repetition) of one variant.
function summarize(runs) {
  const ok = runs.filter((r) => !r.error);
  const errors = runs.filter((r) => r.error).map((r) => r.error);
  if (ok.length === 0) return { processes: 0, errors };
  const steps = ok.flatMap((r) => r.stepMs);
  const phaseRows = ok.flatMap((r) => r.phasesMs);
  const phases = {};
  for (const key of PHASES) {
    const values = phaseRows.map((row) => row[key]).filter((v) => typeof v === 'number');
    if (values.length) phases[key] = median(values);
  }
  const loops = ok.map((r) => r.eventLoopDelayMs).filter(Boolean);
  return {
    processes: ok.length,
    steps: steps.length,
    errors,
    stepMs: { median: median(steps), p25: percentile(steps, 25), p75: percentile(steps, 75), min: Math.min(...steps), max: Math.max(...steps) },
    peakMB: median(ok.map((r) => r.peakRssKB / 1024)),
    rssBeforeMB: median(ok.map((r) => r.rssBeforeKB / 1024)),
    phasesMs: phases,
    // In process order: with torch.compile the first process compiles from an empty cache (bench/run.js).
    firstStepMs: ok.map((r) => r.firstStepMs).filter((v) => typeof v === 'number'),
    eventLoopDelayMs: loops.length
      ? { p50: median(loops.map((l) => l.p50)), p99: Math.max(...loops.map((l) => l.p99)), max: Math.max(...loops.map((l) => l.max)) }
      : undefined,
    threads: ok[0].threads,
  };
}

const ms = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const mb = (v) => v.toFixed(0);

function timeCell(s) {
  if (!s || !s.processes) return 'n/a';
  return `${ms(s.stepMs.median)} [${ms(s.stepMs.p25)}–${ms(s.stepMs.p75)}]`;
}

function whyMissing(result, variant, s) {
  if (s && s.errors && s.errors.length) return `failed: ${s.errors[0].slice(0, 80)}`;
  if (variant.sa === 'plain' && result.skippedPlain) return 'not run (memory)';
  return 'n/a';
}

// kds against PyTorch with torch.compile: steady-state steps side by side, and the first step of each
// (PyTorch's compiles: from an empty inductor cache in the first process, from the cache in later ones).
function renderCompiledTable(out, results, variants, byName) {
  const seconds = (v) => (v / 1000).toFixed(1);
  out.push('');
  out.push('#### Step time and peak memory, kds / PyTorch with torch.compile');
  out.push('');
  out.push('PyTorch compiled: `torch.compile` (inductor, default mode) of the teacher forward and of the student forward with the losses ' +
    '(its backward compiled by AOTAutograd); zero_grad and Adam eager. First step: the warm-up step, which compiles ' +
    '(cold: first process, empty cache; cached: later processes, median), against kds\'s first step.');
  out.push('');
  out.push('| student | batch | LR patch | kds variant | kds ms | compiled PyTorch ms | time ratio | kds peak MB | compiled peak MB | memory ratio | first step s: kds / compiled cold / cached |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const c = r.config;
    for (const v of variants.filter((x) => x.impl === 'kds' && x.compiledReference)) {
      const k = r.variants[v.name];
      const p = r.variants[v.compiledReference];
      const kOk = k && k.processes;
      const pOk = p && p.processes;
      const first = pOk && p.firstStepMs.length
        ? `${kOk ? seconds(median(k.firstStepMs)) : '–'} / ${seconds(p.firstStepMs[0])} / ${p.firstStepMs.length > 1 ? seconds(median(p.firstStepMs.slice(1))) : '–'}`
        : '–';
      out.push(`| r${c.student[0]}f${c.student[1]} | ${c.batch} | ${c.patch} | ${v.name.replace('kds ', '')} | ` +
        `${kOk ? timeCell(k) : whyMissing(r, v, k)} | ${pOk ? timeCell(p) : whyMissing(r, byName[v.compiledReference], p)} | ` +
        `${kOk && pOk ? (k.stepMs.median / p.stepMs.median).toFixed(2) : '–'} | ${kOk ? mb(k.peakMB) : '–'} | ${pOk ? mb(p.peakMB) : '–'} | ` +
        `${kOk && pOk ? (k.peakMB / p.peakMB).toFixed(2) : '–'} | ${first} |`);
    }
  }
}

function renderReport(report) {
  const { machine: m, results, variants } = report;
  const byName = Object.fromEntries(variants.map((v) => [v.name, v]));
  const out = [];
  out.push(`Machine: ${m.cpuModel}, ${m.logicalCpus} logical CPUs, ${m.memoryGB} GB RAM; ${m.threads} threads; ` +
    `kds on LibTorch ${m.kdsTorchVersion || '?'}, PyTorch ${m.pytorchTorchVersion || '?'}; Node ${m.node}; ${m.python}` +
    `${report.options.ompWaitPolicy ? `; OMP_WAIT_POLICY=${report.options.ompWaitPolicy.toUpperCase()}` : ''}.`);
  out.push(`Load average (1/5/15 min) at start ${m.loadAverageAtStart.join(' / ')}, at end ${m.loadAverageAtEnd.join(' / ')}; ` +
    `1-min load sampled after each process: mean ${m.loadDuringRun.mean}, max ${m.loadDuringRun.max}; ` +
    `${report.options.reps} repetitions per variant, each a fresh process (${report.options.steps.warmup} warm-up steps, ` +
    `then ${report.options.steps.minSteps}–${report.options.steps.maxSteps} measured steps); run took ${m.wallMinutes} min.`);
  out.push(`Teacher EDSR r${report.teacher[0]}f${report.teacher[1]}, x${report.scale}, Adam; loss 0.5 DS + 0.5 TS + 1 SA over the four feature taps. ` +
    'Times: median [25th–75th percentile] of all measured steps, ms. Peak: median VmHWM of the processes, MB.');
  out.push('');
  out.push('#### Step time and peak memory, kds / PyTorch');
  out.push('');
  out.push('| student | batch | LR patch | kds variant | kds ms | PyTorch ms (same loss, plain FAKD) | time ratio | kds peak MB | PyTorch peak MB | memory ratio |');
  out.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const c = r.config;
    for (const v of variants.filter((x) => x.impl === 'kds')) {
      const k = r.variants[v.name];
      const p = r.variants[v.reference];
      const kOk = k && k.processes;
      const pOk = p && p.processes;
      const pName = v.sa === 'off' ? 'SA off' : 'SA';
      out.push(`| r${c.student[0]}f${c.student[1]} | ${c.batch} | ${c.patch} | ${v.name.replace('kds ', '')} | ` +
        `${kOk ? timeCell(k) : whyMissing(r, v, k)} | ${pOk ? `${timeCell(p)} (${pName})` : whyMissing(r, byName[v.reference], p)} | ` +
        `${kOk && pOk ? (k.stepMs.median / p.stepMs.median).toFixed(2) : '–'} | ${kOk ? mb(k.peakMB) : '–'} | ${pOk ? mb(p.peakMB) : '–'} | ` +
        `${kOk && pOk ? (k.peakMB / p.peakMB).toFixed(2) : '–'} |`);
    }
  }
  if (variants.some((v) => v.compile)) renderCompiledTable(out, results, variants, byName);
  out.push('');
  out.push('#### Time outside LibTorch and event-loop delay (kds)');
  out.push('');
  out.push('"Outside": wall time of `await kds.train()` minus the native step time the step reports (N-API, JS, thread hand-off), median per step.');
  out.push('');
  out.push('| student | batch | LR patch | kds variant | step ms | outside ms | outside share | event-loop p50 ms | event-loop p99 ms | max ms |');
  out.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const c = r.config;
    for (const v of variants.filter((x) => x.impl === 'kds')) {
      const k = r.variants[v.name];
      if (!k || !k.processes) continue;
      const e = k.eventLoopDelayMs;
      out.push(`| r${c.student[0]}f${c.student[1]} | ${c.batch} | ${c.patch} | ${v.name.replace('kds ', '')} | ${ms(k.stepMs.median)} | ` +
        `${k.phasesMs.outside.toFixed(3)} | ${((100 * k.phasesMs.outside) / k.stepMs.median).toFixed(2)}% | ${e.p50.toFixed(2)} | ${e.p99.toFixed(2)} | ${e.max.toFixed(1)} |`);
    }
  }
  out.push('');
  out.push('#### Where the step time goes (median ms per phase)');
  out.push('');
  out.push('kds: timed in the native step (std::chrono); PyTorch: timed the same way in Python (perf_counter). "loss" includes the SA forward, "backward" the SA backward.');
  out.push('');
  out.push('| student | batch | LR patch | run | prepare | teacher fwd | student fwd | loss | backward | optimizer | outside | step |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const c = r.config;
    for (const v of variants) {
      const s = r.variants[v.name];
      if (!s || !s.processes) continue;
      const cell = (key) => (s.phasesMs[key] === undefined ? '–' : ms(s.phasesMs[key]));
      out.push(`| r${c.student[0]}f${c.student[1]} | ${c.batch} | ${c.patch} | ${v.name} | ${cell('prepare')} | ${cell('teacherForward')} | ` +
        `${cell('studentForward')} | ${cell('loss')} | ${cell('backward')} | ${cell('optimizer')} | ${cell('outside')} | ${ms(s.stepMs.median)} |`);
    }
  }
  const skipped = results.filter((r) => r.skippedPlain);
  if (skipped.length) {
    out.push('');
    out.push('Not run (memory): the plain-formula variants (PyTorch SA, kds SA plain) of ' +
      skipped.map((r) => `${r.label} (${r.skippedPlain})`).join('; ') + '.');
  }
  return out.join('\n') + '\n';
}

module.exports = { percentile, median, summarize, renderReport };
