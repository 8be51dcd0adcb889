'use strict';
// The README's demo: does distillation pay for a small student? A study on real photographs, on a CPU,
// in about ten minutes.
//
// 1. fetches the photographs (Debian packages, licences recorded; cached in .cache/photos),
// 2. loads the committed teacher (assets/teacher-edsr-x2.pt, trained with `kds train`, see its .json),
// 3. takes a validation split out of the training photographs (it chooses each run's weights; the
//    held-out photographs are only ever used for the final scores),
// 4. trains the student from scratch and with each distillation recipe, for several seeds, paired by seed
//    (same initial weights and the same ordinary batches), and
// 5. prints each recipe's PSNR/SSIM on the held-out photographs, its difference from scratch with a 95%
//    interval over seeds, and a verdict the numbers support; writes runs/demo/study.{md,json,png} and a
//    report with charts and crops.
//
// Every number printed is measured in this run. Environment: KDS_DEMO_STEPS (steps per run),
// KDS_DEMO_SEEDS (a count or a list such as 1,2,3), KDS_DEMO_RECIPES (see docs/study.md),
// KDS_NUM_THREADS (default: all cores), KDS_PHOTOS_DIR, KDS_DEMO_OUT (default runs/demo). A stopped demo
// continues where it stopped when started again with the same settings.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const kdsLib = require('../dist');
const { fetchPhotos } = require('../scripts/fetch-photos.js');

const { datasets, info, models, readLog, setNumThreads, study, upscale, upscaleBicubic, validationSplit, writeReport } = kdsLib;

const ROOT = path.resolve(__dirname, '..');
const TEACHER = path.join(ROOT, 'assets', 'teacher-edsr-x2.pt');
const STUDENT = { nResblocks: 3, nFeats: 16 }; // EDSR r3f16: one residual block per feature group
const SCALE = 2;
const STEPS = Number(process.env.KDS_DEMO_STEPS || 1000);
const SEEDS = seeds(process.env.KDS_DEMO_SEEDS || '3');
const RECIPES = (process.env.KDS_DEMO_RECIPES || 'fakd,dukd').split(',').map((r) => r.trim()).filter(Boolean);
const TRAINING = {
  batchSize: 8,
  patchSize: 32,
  schedule: { type: 'multistep', lr: 2e-3 }, // halved at 50% and 75% of the steps
  fit: { ema: 0.995, optimizer: { clipGradNorm: 50 } }, // a moving average of the weights, clipped gradient norms: stable short runs
};
const OUT = path.resolve(process.env.KDS_DEMO_OUT || path.join(ROOT, 'runs', 'demo'));

function seeds(text) {
  const list = /^\d+$/.test(text) ? Array.from({ length: Number(text) }, (_, i) => i + 1) : text.split(',').map(Number);
  if (list.length === 0 || list.some((s) => !Number.isInteger(s) || s < 0)) throw new Error(`KDS_DEMO_SEEDS must be a count or a list of seeds, got '${text}'`);
  return list;
}

const archName = (o) => `EDSR r${o.nResblocks}f${o.nFeats}`;
const sign = (x, d = 3) => `${x >= 0 ? '+' : ''}${x.toFixed(d)}`;

async function main() {
  const started = Date.now();
  if (process.env.KDS_NUM_THREADS) setNumThreads(Number(process.env.KDS_NUM_THREADS));
  const i = info();
  console.log(`kds demo: does distillation pay? LibTorch ${i.torchVersion}, ${i.numThreads} threads, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'})`);

  const photos = fetchPhotos({});
  const all = datasets.folder(path.join(photos.dir, 'train'), { scale: SCALE });
  const heldOut = datasets.folder(path.join(photos.dir, 'eval'), { scale: SCALE });
  const { train, val } = await validationSplit(all, { count: 3, crop: 384, dir: path.join(OUT, 'validation') });
  console.log(`photographs: ${train.length} for training, ${val.length} for validation (central crops of ${val.names.join(', ')}), ` +
    `${heldOut.length} held out (${heldOut.names.join(', ')}); licences in ${path.join(photos.dir, 'licenses')}`);

  const teacherInfo = JSON.parse(fs.readFileSync(TEACHER.replace(/\.pt$/, '.json'), 'utf8'));
  const t = /^edsr-r(\d+)f(\d+)$/.exec(teacherInfo.arch);
  const teacherArch = { nResblocks: Number(t[1]), nFeats: Number(t[2]) };
  const teacher = models.edsr({ scale: SCALE, ...teacherArch });
  await teacher.loadStateDict(TEACHER);
  const student = () => models.edsr({ scale: SCALE, ...STUDENT });
  const probe = student();
  const studentParams = probe.parameterCount;
  probe.dispose();
  console.log(`teacher: ${archName(teacherArch)}, ${teacher.parameterCount} parameters; student: ${archName(STUDENT)}, ${studentParams} parameters`);
  console.log(`recipes: scratch, ${RECIPES.join(', ')}; seeds ${SEEDS.join(', ')}; ${STEPS} steps of ${TRAINING.batchSize} patches of ${TRAINING.patchSize} px each\n`);

  const result = await study({
    teacher, student, train, val, test: heldOut, recipes: RECIPES, seeds: SEEDS, steps: STEPS, ...TRAINING,
    outDir: OUT, log: (line) => console.log(`  ${line}`),
  });

  const rule = result.headline;
  const caption = `Held-out photographs (${heldOut.names.join(', ')}), x${SCALE}; PSNR and SSIM on Y, ${SCALE} border pixels shaved; ` +
    `students: mean over ${SEEDS.length} seeds of the ${rule === 'best' ? 'validation-chosen' : 'final'} weights.`;
  const rows = [
    { name: 'bicubic', psnr: result.bicubic.psnr, ssim: result.bicubic.ssim },
    ...result.recipes.map((r) => ({ name: `student ${archName(STUDENT)}, ${r.recipe}`, parameters: studentParams, psnr: r[rule].psnr, ssim: r[rule].ssim, vs: r.vsScratch?.[rule] })),
    { name: `teacher ${archName(teacherArch)}`, parameters: teacher.parameterCount, psnr: result.teacher.psnr, ssim: result.teacher.ssim },
  ];
  console.log(`\n${caption}\n`);
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(`| ${'model'.padEnd(w)} | parameters | PSNR (dB) |  SSIM  | minus scratch, dB [95% interval] |`);
  console.log(`|${'-'.repeat(w + 2)}|-----------:|----------:|-------:|---------------------------------:|`);
  for (const r of rows) {
    const vs = r.vs ? `${sign(r.vs.psnr.mean)} [${sign(r.vs.psnr.low)}, ${sign(r.vs.psnr.high)}]` : '';
    console.log(`| ${r.name.padEnd(w)} | ${String(r.parameters ?? '').padStart(10)} | ${r.psnr.toFixed(3).padStart(9)} | ${r.ssim.toFixed(4)} | ${vs.padStart(32)} |`);
  }
  console.log(`\nVerdict: ${result.verdict}`);

  // The report: training curves of seed 1 and crops of the first held-out photograph.
  const first = SEEDS[0];
  const runDir = (recipe) => path.join(OUT, 'runs', recipe, `seed-${first}`);
  const pair = await heldOut.get(0);
  const panels = [{ label: 'bicubic', image: await upscaleBicubic(pair.lr, SCALE) }];
  for (const r of result.recipes) {
    const m = student();
    await m.loadStateDict(path.join(runDir(r.recipe), fs.existsSync(path.join(runDir(r.recipe), 'best.pt')) && rule === 'best' ? 'best.pt' : 'student.pt'));
    panels.push({ label: r.recipe, image: await upscale(m, pair.lr) });
  }
  panels.push({ label: 'teacher', image: await upscale(teacher, pair.lr) }, { label: 'ground truth', image: pair.hr });
  const files = await writeReport({
    outDir: OUT,
    title: 'kds demo: does distillation pay?',
    runs: result.recipes.map((r) => ({ label: `${r.recipe} (seed ${first})`, log: readLog(path.join(runDir(r.recipe), 'log.jsonl')) })),
    table: { caption, rows: rows.map(({ vs, ...r }) => r) },
    notes: [`Verdict: ${result.verdict}`, `Per-seed differences and intervals: study.md and study.png.`,
      `Teacher: ${teacherInfo.arch}, ${teacher.parameterCount} parameters; how it was trained: assets/teacher-edsr-x2.json.`],
    crops: { image: heldOut.names[0], panels },
  });
  console.log(`\nreport: ${path.relative(process.cwd(), files.markdown)} (and .html); study: ${path.relative(process.cwd(), result.files.markdown)}, ${path.relative(process.cwd(), result.files.png)}`);
  console.log(`demo took ${((Date.now() - started) / 60000).toFixed(1)} minutes`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
