// The study runner: recipes x seeds paired by seed, scored on held-out photographs, compared with scratch
// by a t interval; resumable; teacher-labelled batches carry the teacher's output as their target; bad
// input is refused before anything trains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { datasets, info, manualSeed, models, pairedInterval, setNumThreads, study, teacherLabelledSource } from '../dist/index.js';

const require = createRequire(import.meta.url);
const sharp = require('sharp');
setNumThreads(1);
const tmp = (prefix) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

// Small photographs with structure at several scales (so SR has something to learn), written as PNG.
async function photos(dir, count, size, seed) {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    const px = Buffer.alloc(size * size * 3);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let c = 0; c < 3; c++) {
          const v = 128 + 60 * Math.sin((x + seed * 3 + i) / (3 + c)) * Math.cos((y - i) / (5 - c)) + 40 * Math.sin((x * y + c * 7 + seed) / 17);
          px[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
        }
    await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toFile(path.join(dir, `p${i}.png`));
  }
  return datasets.folder(dir, { scale: 2 });
}

function setup() {
  manualSeed(7);
  const teacher = models.edsr({ scale: 2, nResblocks: 2, nFeats: 8 });
  return { teacher, student: () => models.edsr({ scale: 2, nResblocks: 1, nFeats: 4 }) };
}

test('pairedInterval is the Student t interval of the mean difference', () => {
  const i = pairedInterval([1, 2, 3]);
  assert.equal(i.mean, 2);
  assert.equal(i.sd, 1);
  const half = 4.303 / Math.sqrt(3); // t_{0.975, 2}
  assert.ok(Math.abs(i.low - (2 - half)) < 1e-12 && Math.abs(i.high - (2 + half)) < 1e-12);
  const one = pairedInterval([0.5]);
  assert.equal(one.mean, 0.5);
  assert.ok(Number.isNaN(one.low) && Number.isNaN(one.high), 'one seed has no interval');
});

test('a study pairs recipes by seed, writes its table and chart, and resumes without retraining', async () => {
  const root = tmp('kds-study-');
  const train = await photos(path.join(root, 'train'), 3, 48, 1);
  const val = await photos(path.join(root, 'val'), 1, 32, 2);
  const test = await photos(path.join(root, 'test'), 2, 32, 3);
  const { teacher, student } = setup();
  const options = {
    teacher, student, train, val, test, recipes: ['kd', 'dukd'], seeds: [1, 2], steps: 4, batchSize: 2, patchSize: 8,
    schedule: { type: 'constant', lr: 1e-3 }, validations: 2, outDir: path.join(root, 'out'),
  };
  const lines = [];
  const r = await study({ ...options, log: (l) => lines.push(l) });
  assert.deepEqual(r.recipes.map((s) => s.recipe), ['scratch', 'kd', 'dukd']);
  assert.equal(r.runs.length, 6);
  assert.equal(r.headline, 'best');
  for (const s of r.recipes.slice(1)) {
    const perSeed = [1, 2].map((seed) => {
      const mine = r.runs.find((x) => x.recipe === s.recipe && x.seed === seed);
      const base = r.runs.find((x) => x.recipe === 'scratch' && x.seed === seed);
      return mine.best.psnr - base.best.psnr;
    });
    assert.deepEqual(s.vsScratch.best.psnrPerSeed, perSeed);
    assert.ok(Math.abs(s.vsScratch.best.psnr.mean - (perSeed[0] + perSeed[1]) / 2) < 1e-12);
    assert.ok(s.vsScratch.best.psnr.low <= s.vsScratch.best.psnr.mean && s.vsScratch.best.psnr.mean <= s.vsScratch.best.psnr.high);
  }
  for (const f of Object.values(r.files)) assert.ok(fs.statSync(f).size > 0, f);
  const md = fs.readFileSync(r.files.markdown, 'utf8');
  assert.match(md, /\| dukd \|/);
  assert.match(md, /Verdict:/);
  assert.deepEqual([...fs.readFileSync(r.files.png).subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
  assert.equal(typeof r.verdict, 'string');

  // Same seed, same start: scratch of seed 1 trained again from nothing gives the same scores.
  fs.rmSync(path.join(root, 'out', 'runs', 'scratch', 'seed-1'), { recursive: true });
  // A run whose result was lost after its training finished continues from its checkpoint (no steps left).
  fs.rmSync(path.join(root, 'out', 'runs', 'kd', 'seed-2', 'result.json'));
  const lines2 = [];
  const again = await study({ ...options, log: (l) => lines2.push(l) });
  assert.equal(lines2.filter((l) => l.includes('finished earlier')).length, 4);
  for (const run of r.runs) {
    const twin = again.runs.find((x) => x.recipe === run.recipe && x.seed === run.seed);
    assert.ok(Math.abs(twin.final.psnr - run.final.psnr) < 1e-9, `${run.recipe} seed ${run.seed}: ${twin.final.psnr} vs ${run.final.psnr}`);
  }
});

test('teacher-labelled batches: the labelled part is the teacher\'s output on the photograph\'s own patch', async () => {
  const root = tmp('kds-labelled-');
  const train = await photos(path.join(root, 'train'), 2, 48, 4);
  const { teacher } = setup();
  for (const invert of [false, true]) {
    const source = teacherLabelledSource(train, { teacher, photos: train, ratio: 0.5, batchSize: 4, patchSize: 8, seed: 3, invert });
    const batch = await source.next();
    assert.deepEqual(batch.lr.shape, [4, 3, 8, 8]);
    assert.deepEqual(batch.hr.shape, [4, 3, 16, 16]);
    for (const i of [2, 3]) {
      const lr = batch.lr.data.slice(i * 192, (i + 1) * 192);
      const inverted = invert && i === 3; // every second labelled patch
      const input = inverted ? lr.map((v) => 255 - v) : lr;
      const out = (await teacher.forward({ data: input, shape: [1, 3, 8, 8] })).output.toFloat32Array();
      const target = batch.hr.data.slice(i * 768, (i + 1) * 768);
      const expected = inverted ? out.map((v) => 255 - v) : out;
      const err = Math.max(...expected.map((v, k) => Math.abs(v - target[k])));
      assert.ok(err < 1e-3, `patch ${i} (invert ${invert}): max difference ${err}`);
    }
    // Resumable: a restored source continues with the same batch.
    const state = source.state();
    const next = await source.next();
    const again = teacherLabelledSource(train, { teacher, photos: train, ratio: 0.5, batchSize: 4, patchSize: 8, seed: 3, invert });
    await again.restore(state);
    const replay = await again.next();
    assert.deepEqual(replay.lr.data, next.lr.data);
    source.close();
    again.close();
  }
});

test('bad study input is refused with one clear error before any training', async () => {
  const root = tmp('kds-study-bad-');
  const train = await photos(path.join(root, 'train'), 1, 32, 5);
  const { teacher, student } = setup();
  const base = { teacher, student, train, test: train, recipes: ['kd'], seeds: [1], steps: 1, batchSize: 1, patchSize: 8, outDir: path.join(root, 'out') };
  await assert.rejects(study({ ...base, recipes: ['kd', 'nope'] }), { code: 'E_ARG', message: /unknown recipe 'nope'/ });
  await assert.rejects(study({ ...base, seeds: [] }), { code: 'E_ARG', message: /seeds must be a non-empty array/ });
  await assert.rejects(study({ ...base, recipes: ['unlabelled'] }), { code: 'E_ARG', message: /needs unlabelled photographs/ });
  await assert.rejects(study({ ...base, recipes: [{ name: 'x', loss: {}, teacherData: { ratio: 1.5, photos: 'train' } }] }), { code: 'E_ARG', message: /ratio must be a number in \[0, 1\]/ });
  await assert.rejects(study({ ...base, recipes: [{ name: 'x', loss: {}, teacherPrecision: 'int8' }] }), { code: 'E_ARG', message: /teacher precision must be 'step', 'fp32', 'bf16' or 'fp16'/ });
  const flags = /^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1].split(/\s+/) ?? [];
  if (!flags.includes('avx512_bf16') && !flags.includes('amx_bf16'))
    await assert.rejects(study({ ...base, recipes: ['ts-bf16-teacher'] }), { code: 'E_DEVICE', message: /'bf16' teacher on cpu needs a CPU with AVX512-BF16 or AMX-BF16/ });
  if (!info().cudaAvailable) await assert.rejects(study({ ...base, device: 'cuda' }), { code: 'E_DEVICE', message: /cuda/i });
  await assert.rejects(study({ ...base, device: 'tpu' }), { code: 'E_DEVICE' });
  const x3 = models.edsr({ scale: 3, nResblocks: 1, nFeats: 4 });
  await assert.rejects(study({ ...base, teacher: x3 }), { code: 'E_SHAPE', message: /teacher upscales x3/ });
  assert.equal(fs.existsSync(path.join(root, 'out', 'runs')), false, 'nothing was trained');
});
