'use strict';
// One kds distillation step configuration in this process, timed: the counterpart of bench/fakd_step.py.
// Uses only the public API (new KDS(), models.edsr, setLoss, Adam, await kds.train) and prints one JSON
// line: wall time of each `await kds.train`, the native phase timings the step reports, event-loop delay
// while training, and peak resident memory (VmHWM).
// Usage: node bench/kds_step.js '{"teacher": [16, 64], "student": [4, 16], "batch": 4, "patch": 24, ...}'
// GPU options (bench/gpu-bench.js): "device": "cuda", "precision": "bf16", "channelsLast": true,
// "cudnnBenchmark": true; "teacherPrecision": "bf16" (setTeacherPrecision; CPUs with AVX512-BF16/AMX, GPUs). The batches stay host tensors: every step copies them to the device, as training
// from a data loader does.
const fs = require('node:fs');
const { monitorEventLoopDelay, performance } = require('node:perf_hooks');

const kdsPackage = require('..');

function memoryKB() {
  const fields = Object.fromEntries(
    fs.readFileSync('/proc/self/status', 'utf8').split('\n').filter(Boolean).map((line) => {
      const [key, value] = line.split(':');
      return [key, value.trim()];
    }),
  );
  return { peak: parseInt(fields.VmHWM, 10), current: parseInt(fields.VmRSS, 10) };
}

// Uniform 0..255 values from a small LCG: the data does not change the cost of a step.
function randomImage(shape, seed) {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let state = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = (state / 2 ** 32) * 255;
  }
  return kdsPackage.Tensor.from({ data, shape });
}

function lossOptions(sa) {
  if (sa === 'off') return { SA: false };
  if (sa === 'fused') return { SA: true };
  return { SA: { impl: sa } };
}

async function main() {
  const cfg = JSON.parse(process.argv[2]);
  const { KDS, models, setNumThreads, getNumThreads, manualSeed, info, setCudnnBenchmark } = kdsPackage;
  setNumThreads(cfg.threads);
  manualSeed(cfg.seed ?? 100);
  const [tBlocks, tFeats] = cfg.teacher;
  const [sBlocks, sFeats] = cfg.student;
  const kds = new KDS();
  if (cfg.device) kds.setDevice(cfg.device);
  if (cfg.cudnnBenchmark !== undefined) setCudnnBenchmark(cfg.cudnnBenchmark);
  kds.setTeacher(models.edsr({ scale: cfg.scale, nResblocks: tBlocks, nFeats: tFeats }));
  kds.setStudent(models.edsr({ scale: cfg.scale, nResblocks: sBlocks, nFeats: sFeats }));
  kds.setLoss(lossOptions(cfg.sa));
  if (cfg.precision) kds.setPrecision(cfg.precision);
  if (cfg.teacherPrecision) kds.setTeacherPrecision(cfg.teacherPrecision);
  if (cfg.channelsLast) kds.setMemoryFormat('channels_last');
  kds.setOptimizer({ lr: 1e-4, betas: [0.9, 0.999], eps: 1e-8 });
  const lr = randomImage([cfg.batch, 3, cfg.patch, cfg.patch], 1);
  const hr = randomImage([cfg.batch, 3, cfg.scale * cfg.patch, cfg.scale * cfg.patch], 2);
  const rssBeforeKB = memoryKB().current;

  const firstSteps = [];
  for (let i = 0; i < cfg.warmup; i++) {
    const start = performance.now();
    await kds.train(lr, hr);
    firstSteps.push(performance.now() - start);
  }

  // Event-loop delay is sampled only while the measured steps run.
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const stepMs = [];
  const phasesMs = [];
  let measuredMs = 0;
  let lastLoss;
  let skipped = 0;
  while (stepMs.length < cfg.minSteps || (stepMs.length < cfg.maxSteps && measuredMs < cfg.budgetMs)) {
    const start = performance.now();
    const result = await kds.train(lr, hr);
    const wall = performance.now() - start;
    stepMs.push(wall);
    phasesMs.push({ ...result.timings, outside: wall - result.timings.total });
    measuredMs += wall;
    lastLoss = result.total;
    if (result.skipped) skipped++;
  }
  loopDelay.disable();
  const device = kds.device;
  await kds.dispose();

  console.log(JSON.stringify({
    impl: 'kds',
    torchVersion: info().torchVersion,
    threads: getNumThreads(),
    firstStepMs: firstSteps[0] ?? null,
    stepMs,
    phasesMs,
    lastLoss,
    skipped,
    device,
    gpu: info().cudaDevices[0] ?? null,
    eventLoopDelayMs: {
      p50: loopDelay.percentile(50) / 1e6,
      p99: loopDelay.percentile(99) / 1e6,
      max: loopDelay.max / 1e6,
      samples: loopDelay.count,
    },
    rssBeforeKB,
    peakRssKB: memoryKB().peak,
  }));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
