'use strict';
// The README's main job, until the photo-based demo lands: a short FAKD distillation on synthetic
// images, run end to end through the public API. Everything printed is measured in this run.
//
// 1. trains a small EDSR teacher (r6f32, x2) from scratch on synthetic images (DS loss only),
// 2. distils it into a much smaller student (r2f12) with FAKD (DS + TS + SA) and trains the same student
//    from scratch with the same data, seed and steps,
// 3. prints the losses and the mean L1 error of each model on held-out synthetic images.
const path = require('node:path');
const os = require('node:os');
const fs = require('node:fs');
const { KDS, models, manualSeed, setNumThreads, info } = require('../dist');

const SCALE = 2;
const PATCH = 24;
const BATCH = 8;
const STEPS = Number(process.env.KDS_DEMO_STEPS || 150);

// A deterministic generator of smooth, edge-rich RGB images (0..255): sums of oriented sinusoids and
// discs. HR is rendered at SCALE x the LR resolution and LR is its box-filtered downscale.
function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function renderBatch(random, n, h, w) {
  const H = h * SCALE, W = w * SCALE;
  const hr = new Float32Array(n * 3 * H * W);
  const lr = new Float32Array(n * 3 * h * w);
  for (let b = 0; b < n; b++) {
    const waves = Array.from({ length: 3 }, () => ({
      fx: (random() - 0.5) * 0.6, fy: (random() - 0.5) * 0.6, ph: random() * 6.28, c: [random(), random(), random()],
    }));
    const disc = { x: random() * W, y: random() * H, r: 4 + random() * W * 0.3, c: [random(), random(), random()] };
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const inDisc = (x - disc.x) ** 2 + (y - disc.y) ** 2 < disc.r ** 2;
        for (let c = 0; c < 3; c++) {
          let v = 0.5;
          for (const wv of waves) v += 0.25 * wv.c[c] * Math.sin(wv.fx * x + wv.fy * y + wv.ph);
          if (inDisc) v = 0.6 * v + 0.4 * disc.c[c];
          hr[((b * 3 + c) * H + y) * W + x] = Math.min(255, Math.max(0, v * 255));
        }
      }
    }
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          let sum = 0;
          for (let dy = 0; dy < SCALE; dy++)
            for (let dx = 0; dx < SCALE; dx++) sum += hr[((b * 3 + c) * H + y * SCALE + dy) * W + x * SCALE + dx];
          lr[((b * 3 + c) * h + y) * w + x] = sum / (SCALE * SCALE);
        }
  }
  return { lr: { data: lr, shape: [n, 3, h, w] }, hr: { data: hr, shape: [n, 3, H, W] } };
}

async function meanL1(model, batches) {
  let total = 0, count = 0;
  for (const { lr, hr } of batches) {
    const out = (await model.forward(lr)).output.toFloat32Array();
    for (let i = 0; i < out.length; i++) total += Math.abs(Math.min(255, Math.max(0, out[i])) - hr.data[i]);
    count += out.length;
  }
  return total / count;
}

async function train(kds, label, steps, dataSeed) {
  const random = rng(dataSeed);
  const started = Date.now();
  let last;
  for (let step = 1; step <= steps; step++) {
    const { lr, hr } = renderBatch(random, BATCH, PATCH, PATCH);
    last = await kds.train(lr, hr);
    if (step % 50 === 0 || step === steps)
      console.log(`  ${label} step ${step}/${steps}: total ${last.total.toFixed(3)}  DS ${last.DS.toFixed(3)}  TS ${last.TS.toFixed(3)}  SA ${last.SA.toFixed(4)}`);
  }
  return (Date.now() - started) / 1000;
}

async function main() {
  setNumThreads(Number(process.env.KDS_NUM_THREADS || Math.min(2, os.cpus().length)));
  const i = info();
  console.log(`kds demo (synthetic data) - torch ${i.torchVersion}, ${i.numThreads} threads, ${STEPS} steps per model\n`);
  const heldOut = (() => { const r = rng(999); return Array.from({ length: 4 }, () => renderBatch(r, 4, 32, 32)); })();

  manualSeed(1);
  const teacher = models.edsr({ scale: SCALE, nResblocks: 6, nFeats: 32 });
  const teacherKds = new KDS().setStudent(teacher).setLoss({ SA: false, weights: { DS: 1, TS: 0 } }).setOptimizer({ lr: 2e-4 });
  console.log(`1) teacher EDSR r6f32 (${teacher.parameterCount} parameters), trained from scratch:`);
  const tTeacher = await train(teacherKds, 'teacher', STEPS * 2, 1);
  await teacherKds.dispose();

  const studentSpec = { scale: SCALE, nResblocks: 2, nFeats: 12 };
  manualSeed(2);
  const fakdStudent = models.edsr(studentSpec);
  manualSeed(2);
  const scratchStudent = models.edsr(studentSpec);
  console.log(`\n2) student EDSR r2f12 (${fakdStudent.parameterCount} parameters) distilled with FAKD (DS+TS+SA):`);
  const fakd = new KDS().setTeacher(teacher).setStudent(fakdStudent).setLoss({ SA: true }).setOptimizer({ lr: 2e-4 });
  const tFakd = await train(fakd, 'FAKD', STEPS, 2);
  console.log(`\n3) the same student from scratch (DS only, same data, seed and steps):`);
  const scratch = new KDS().setStudent(scratchStudent).setLoss({ SA: false, weights: { DS: 1, TS: 0 } }).setOptimizer({ lr: 2e-4 });
  const tScratch = await train(scratch, 'scratch', STEPS, 2);

  const out = path.join(os.tmpdir(), 'kds-demo');
  fs.mkdirSync(out, { recursive: true });
  await fakd.saveStudentModel(path.join(out, 'fakd-student.pt'));
  await teacher.save(path.join(out, 'teacher.pt'));

  console.log('\nMean absolute error on held-out synthetic images (0..255, lower is better):');
  console.log('| model | parameters | train time (s) | L1 |');
  console.log('|---|---|---|---|');
  console.log(`| teacher r6f32 | ${teacher.parameterCount} | ${tTeacher.toFixed(1)} | ${(await meanL1(teacher, heldOut)).toFixed(3)} |`);
  console.log(`| student r2f12, scratch | ${scratchStudent.parameterCount} | ${tScratch.toFixed(1)} | ${(await meanL1(scratchStudent, heldOut)).toFixed(3)} |`);
  console.log(`| student r2f12, FAKD | ${fakdStudent.parameterCount} | ${tFakd.toFixed(1)} | ${(await meanL1(fakdStudent, heldOut)).toFixed(3)} |`);
  console.log(`\nSaved: ${path.join(out, 'teacher.pt')} and ${path.join(out, 'fakd-student.pt')} (PyTorch state dicts, EDSR-PyTorch keys).`);
  await fakd.dispose();
  await scratch.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
