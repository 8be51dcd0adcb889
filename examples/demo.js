'use strict';
// The README's demo: FAKD on real photographs, on a CPU, in about ten minutes.
//
// 1. fetches the photographs (Debian packages, licences recorded; cached in .cache/photos),
// 2. loads the committed teacher (assets/teacher-edsr-x2.pt, trained once with `kds train`, see its .json),
// 3. distils it into a much smaller student with FAKD (DS + TS + SA) and trains the same student from
//    scratch (DS only) with the same data, seed, schedule and steps,
// 4. prints one table (bicubic / scratch student / FAKD student / teacher; PSNR and SSIM on Y) on the
//    held-out photographs and writes a report (runs/demo/report.md and .html, with PNG charts and crops).
//
// Every number printed is measured in this run. Environment: KDS_DEMO_STEPS (default 1000),
// KDS_NUM_THREADS (default: all cores), KDS_PHOTOS_DIR, KDS_DEMO_OUT (default runs/demo).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const kdsLib = require('../dist');
const { fetchPhotos } = require('../scripts/fetch-photos.js');

const { KDS, datasets, evaluate, info, manualSeed, models, readLog, setNumThreads, upscale, upscaleBicubic, writeReport } = kdsLib;

const ROOT = path.resolve(__dirname, '..');
const TEACHER = path.join(ROOT, 'assets', 'teacher-edsr-x2.pt');
const STUDENT = { nResblocks: 3, nFeats: 16 }; // EDSR r3f16: one residual block per feature group
const SCALE = 2;
const STEPS = Number(process.env.KDS_DEMO_STEPS || 1000);
const SEED = 1;
const SAMPLING = { patchSize: 32, batchSize: 8, seed: SEED };
const SCHEDULE = { type: 'multistep', lr: 3e-3 }; // halved at 50% and 75% of the steps (a high rate: short runs of small models)
const OUT = path.resolve(process.env.KDS_DEMO_OUT || path.join(ROOT, 'runs', 'demo'));

function archName(o) {
  return `EDSR r${o.nResblocks}f${o.nFeats}`;
}

async function trainStudent(label, teacher, train, val, outDir) {
  manualSeed(SEED); // both students start from the same weights
  const student = models.edsr({ scale: SCALE, ...STUDENT });
  const kds = new KDS().setStudent(student);
  if (teacher) kds.setTeacher(teacher).setLoss({ SA: true, positions: [1, 2, 3] }); // FAKD: 0.5 DS + 0.5 TS + 1 SA at the three group outputs
  else kds.setLoss({ SA: false, weights: { DS: 1, TS: 0 } });
  console.log(`\n${label}: ${archName(STUDENT)}, ${student.parameterCount} parameters, ${STEPS} steps of ${SAMPLING.batchSize} patches of ${SAMPLING.patchSize} px`);
  fs.rmSync(outDir, { recursive: true, force: true });
  const result = await kds.fit({
    train, val, steps: STEPS, ...SAMPLING, schedule: SCHEDULE,
    validateEvery: Math.max(1, Math.round(STEPS / 6)), checkpointEvery: STEPS, outDir, progress: 'auto',
  });
  console.log(`${label}: ${result.trainSeconds.toFixed(0)} s of training (${result.stepsPerSecond.toFixed(2)} steps/s)`);
  await kds.dispose();
  return { student, result, log: readLog(path.join(outDir, 'log.jsonl')) };
}

function row(name, parameters, e) {
  return { name, parameters, psnr: e.psnr, ssim: e.ssim };
}

async function main() {
  const started = Date.now();
  if (process.env.KDS_NUM_THREADS) setNumThreads(Number(process.env.KDS_NUM_THREADS));
  const i = info();
  console.log(`kds demo: FAKD on photographs, LibTorch ${i.torchVersion}, ${i.numThreads} threads, ${os.cpus().length} cores`);

  const photos = fetchPhotos({});
  const train = datasets.folder(path.join(photos.dir, 'train'), { scale: SCALE });
  const heldOut = datasets.folder(path.join(photos.dir, 'eval'), { scale: SCALE });
  console.log(`photographs: ${train.length} for training, ${heldOut.length} held out (${heldOut.names.join(', ')}); licences in ${path.join(photos.dir, 'licenses')}`);

  const teacherInfo = JSON.parse(fs.readFileSync(TEACHER.replace(/\.pt$/, '.json'), 'utf8'));
  const t = /^edsr-r(\d+)f(\d+)$/.exec(teacherInfo.arch);
  const teacher = models.edsr({ scale: SCALE, nResblocks: Number(t[1]), nFeats: Number(t[2]) });
  await teacher.loadStateDict(TEACHER);
  console.log(`teacher: ${archName({ nResblocks: t[1], nFeats: t[2] })}, ${teacher.parameterCount} parameters (${path.relative(ROOT, TEACHER)})`);

  const fakd = await trainStudent('FAKD student', teacher, train, heldOut, path.join(OUT, 'fakd'));
  const scratch = await trainStudent('scratch student', undefined, train, heldOut, path.join(OUT, 'scratch'));

  const evalScratch = await evaluate(scratch.student, heldOut);
  const evalFakd = await evaluate(fakd.student, heldOut, { bicubic: false });
  const evalTeacher = await evaluate(teacher, heldOut, { bicubic: false });
  const rows = [
    row('bicubic', undefined, evalScratch.bicubic),
    row(`student ${archName(STUDENT)}, from scratch`, scratch.student.parameterCount, evalScratch.mean),
    row(`student ${archName(STUDENT)}, FAKD`, fakd.student.parameterCount, evalFakd.mean),
    row(`teacher ${archName({ nResblocks: t[1], nFeats: t[2] })}`, teacher.parameterCount, evalTeacher.mean),
  ];

  // FAKD minus scratch, image by image (paired): the mean and its standard error over the images.
  const diffs = evalFakd.images.map((im, k) => im.psnr - evalScratch.images[k].psnr);
  const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
  const sd = Math.sqrt(diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / Math.max(1, diffs.length - 1));
  const se = sd / Math.sqrt(diffs.length);
  const sign = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(3)}`;
  const verdict =
    Math.abs(mean) < 2 * se
      ? `This is within noise: the mean is less than two standard errors (${se.toFixed(3)} dB) from zero, with one seed per student and ${diffs.length} images.`
      : `The difference is more than two standard errors (${se.toFixed(3)} dB) from zero over ${diffs.length} images, with one seed per student; other seeds are not measured here.`;
  const gain = `FAKD minus scratch, PSNR per held-out image: ${diffs.map(sign).join(', ')} dB (mean ${sign(mean)} dB). ${verdict}`;

  const caption = `Held-out photographs (${heldOut.names.join(', ')}), x${SCALE}; PSNR and SSIM on Y with ${SCALE} border pixels shaved. Both students: same initial weights, data, seed, schedule and ${STEPS} steps.`;
  console.log(`\n${caption}\n`);
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(`| ${'model'.padEnd(w)} | parameters | PSNR (dB) |  SSIM  |`);
  console.log(`|${'-'.repeat(w + 2)}|-----------:|----------:|-------:|`);
  for (const r of rows)
    console.log(`| ${r.name.padEnd(w)} | ${String(r.parameters ?? '').padStart(10)} | ${r.psnr.toFixed(3).padStart(9)} | ${r.ssim.toFixed(4)} |`);
  console.log(`\n${gain}`);

  const pair = await heldOut.get(0);
  const files = await writeReport({
    outDir: OUT,
    title: 'kds demo: FAKD on photographs',
    runs: [{ label: 'FAKD student', log: fakd.log }, { label: 'scratch student', log: scratch.log }],
    table: { caption, rows },
    notes: [gain, `Teacher: ${teacherInfo.arch}, trained with: ${teacherInfo.command ?? 'see assets/teacher-edsr-x2.json'}.`],
    crops: {
      image: heldOut.names[0],
      panels: [
        { label: 'bicubic', image: await upscaleBicubic(pair.lr, SCALE) },
        { label: 'scratch', image: await upscale(scratch.student, pair.lr) },
        { label: 'FAKD', image: await upscale(fakd.student, pair.lr) },
        { label: 'teacher', image: await upscale(teacher, pair.lr) },
        { label: 'ground truth', image: pair.hr },
      ],
    },
  });
  console.log(`\nreport: ${path.relative(process.cwd(), files.markdown)} and ${path.relative(process.cwd(), files.html)}; students in ${path.relative(process.cwd(), OUT)}/{fakd,scratch}/student.pt`);
  console.log(`demo took ${((Date.now() - started) / 60000).toFixed(1)} minutes`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
