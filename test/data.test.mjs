// Images in and out: file I/O, bad files, MATLAB-style bicubic resizing against an independent PyTorch
// reference (test/fixtures/data_reference.py), the three dataset layouts, the patch sampler, tiled upscale.
// Uses real photographs fetched from Debian packages (scripts/fetch-photos.js); without them it fails.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import * as kds from '../dist/index.js';
import { dataReference } from './helpers/data-reference.mjs';

const require = createRequire(import.meta.url);
const { fetchPhotos } = require('../scripts/fetch-photos.js');

const photos = fetchPhotos(); // throws (fails the file) when the photographs cannot be fetched
const evalDir = path.join(photos.dir, 'eval');
const photo = (name) => photos.manifest.images.map((i) => path.join(photos.dir, i.file)).find((f) => f.includes(name));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-data-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// --- helpers -------------------------------------------------------------------------------------------
const { run: runReference, writeRaw, readFloat64 } = dataReference(tmp);

function maxAbsDiff(a, b) {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const chw = (t) => t.shape.slice(-3);

// Element b of a batch as one image { data, shape: [1, 3, h, w] }.
function item(tensor, b) {
  const [, c, h, w] = tensor.shape;
  const all = tensor.toFloat32Array();
  return { data: all.slice(b * c * h * w, (b + 1) * c * h * w), shape: [1, c, h, w] };
}

// The 8 symmetries of a [3, n, n] array, numbered as the sampler does: bit 0 mirrors left-right, bit 1
// top-bottom, bit 2 swaps rows and columns (applied in that order).
function symmetry(data, n, t) {
  const out = new Float32Array(data.length);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++) {
        let sy = t & 4 ? x : y, sx = t & 4 ? y : x; // output (y, x) reads the flipped patch at (sy, sx)
        if (t & 2) sy = n - 1 - sy;
        if (t & 1) sx = n - 1 - sx;
        out[(c * n + y) * n + x] = data[(c * n + sy) * n + sx];
      }
  return out;
}

function sameArray(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Interior of a [1, 3, n, n] image without `border` pixels on each side.
function interior(data, n, border) {
  const out = [];
  for (let c = 0; c < 3; c++)
    for (let y = border; y < n - border; y++) for (let x = border; x < n - border; x++) out.push(data[(c * n + y) * n + x]);
  return Float32Array.from(out);
}

async function makeFolder(name, files) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, make] of Object.entries(files)) await make(path.join(dir, file));
  return dir;
}

// --- reading and writing -------------------------------------------------------------------------------
describe('readImage / writeImage', () => {
  test('reads PNG and JPEG photographs as [1, 3, h, w] with integer values 0..255', async () => {
    const png = await kds.readImage(photo('astronaut'));
    assert.deepEqual(png.shape, [1, 3, 512, 512]);
    const jpg = await kds.readImage(photo('rocket'));
    assert.deepEqual(jpg.shape, [1, 3, 427, 640]);
    const v = jpg.toFloat32Array();
    assert.ok(v.every((x) => Number.isInteger(x) && x >= 0 && x <= 255));
  });

  test('WebP in; PNG out round-trips exactly and atomically', async () => {
    const image = await kds.readImage(photo('chelsea'));
    const out = path.join(tmp, 'roundtrip.png');
    await kds.writeImage(out, image);
    assert.deepEqual((await kds.readImage(out)).toFloat32Array(), image.toFloat32Array());
    assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.includes('roundtrip') && f.endsWith('.tmp')), []);
    const webp = path.join(tmp, 'lossless.webp');
    await sharp(photo('chelsea')).webp({ lossless: true }).toFile(webp);
    assert.deepEqual((await kds.readImage(webp)).toFloat32Array(), image.toFloat32Array());
  });

  test('writeImage rounds and clamps float values, accepts [3, h, w] data', async () => {
    const data = Float32Array.from([-3, 0.49, 0.5, 1.5, 254.6, 300]);
    const out = path.join(tmp, 'rounded.png');
    await kds.writeImage(out, { data, shape: [3, 1, 2] });
    assert.deepEqual(Array.from((await kds.readImage(out)).toFloat32Array()), [0, 0, 1, 2, 255, 255]);
  });

  test('grayscale becomes 3 equal channels; opaque RGBA and 16-bit PNG read as their RGB content', async () => {
    const gray = await kds.readImage(photo('camera'));
    assert.deepEqual(gray.shape, [1, 3, 512, 512]);
    const g = gray.toFloat32Array(), n = 512 * 512;
    assert.ok(sameArray(g.subarray(0, n), g.subarray(n, 2 * n)) && sameArray(g.subarray(0, n), g.subarray(2 * n)));
    const rgb = (await kds.readImage(photo('chelsea'))).toFloat32Array();
    const rgba = path.join(tmp, 'opaque-rgba.png');
    await sharp(photo('chelsea')).ensureAlpha(1).png().toFile(rgba);
    assert.equal((await sharp(rgba).metadata()).channels, 4);
    assert.deepEqual((await kds.readImage(rgba)).toFloat32Array(), rgb);
    const deep = path.join(tmp, 'sixteen.png');
    await sharp(photo('chelsea')).toColourspace('rgb16').png().toFile(deep);
    assert.equal((await sharp(deep).metadata()).depth, 'ushort');
    assert.deepEqual((await kds.readImage(deep)).toFloat32Array(), rgb);
  });

  test('bad files give KDSError E_FILE or E_SHAPE naming the file', async () => {
    await assert.rejects(kds.readImage(path.join(tmp, 'missing.png')), { name: 'KDSError', code: 'E_FILE', message: /missing\.png' does not exist/ });
    await assert.rejects(kds.readImage(tmp), { code: 'E_FILE', message: /is not a file/ });
    const text = path.join(tmp, 'text.png');
    fs.writeFileSync(text, 'not an image\n');
    await assert.rejects(kds.readImage(text), { code: 'E_FILE', message: /text\.png' is not a readable PNG, JPEG or WebP image/ });
    for (const source of [photo('astronaut'), photo('rocket')]) {
      const bytes = fs.readFileSync(source);
      const cut = path.join(tmp, `truncated${path.extname(source)}`);
      fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      await assert.rejects(kds.readImage(cut), { code: 'E_FILE', message: /truncated/ });
    }
    const transparent = path.join(tmp, 'transparent.png');
    await sharp(photo('chelsea')).ensureAlpha(0.5).png().toFile(transparent);
    await assert.rejects(kds.readImage(transparent), { code: 'E_SHAPE', message: /transparent\.png: has \d+ transparent pixel/ });
  });

  test('writeImage checks its arguments', async () => {
    const image = { data: new Float32Array(12), shape: [1, 3, 2, 2] };
    await assert.rejects(kds.writeImage(path.join(tmp, 'x.jpg'), image), { code: 'E_ARG', message: /must end in \.png/ });
    await assert.rejects(kds.writeImage(path.join(tmp, 'no', 'such', 'dir.png'), image), { code: 'E_FILE' });
    await assert.rejects(kds.writeImage(path.join(tmp, 'batch.png'), { data: new Float32Array(24), shape: [2, 3, 2, 2] }), { code: 'E_SHAPE' });
    assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp')), []);
  });
});

// --- bicubic resizing against the PyTorch reference -----------------------------------------------------
describe('bicubic resizing (MATLAB imresize) against an independent reference', () => {
  // Photograph, scale. HR is cropped to a multiple of the scale by the folder dataset.
  const cases = [
    ['astronaut', 2],
    ['chelsea', 3],
    ['coffee', 4],
    ['rocket', 2],
    ['european-honey-bee', 3],
  ];
  const got = [];
  let ref;

  before(async () => {
    const jobs = [];
    for (const [name, s] of cases) {
      const dir = await makeFolder(`resize-${name}-${s}`, { [path.basename(photo(name))]: (f) => fs.promises.copyFile(photo(name), f) });
      const pair = await kds.datasets.folder(dir, { scale: s }).get(0);
      const [, h, w] = chw(pair.hr);
      const down = await kds.downscaleBicubic(pair.hr, s);
      const downQ = await kds.downscaleBicubic(pair.hr, s, { quantize: true });
      const up = await kds.upscaleBicubic(pair.lr, s);
      got.push({ name, s, pair, down, downQ, up });
      jobs.push({ kind: 'resize', input: writeRaw(`${name}-hr.f32`, pair.hr), shape: [3, h, w], outHeight: h / s, outWidth: w / s, scaleH: 1 / s, scaleW: 1 / s, output: `${name}-down.f64` });
      jobs.push({ kind: 'resize', input: writeRaw(`${name}-lr.f32`, pair.lr), shape: [3, h / s, w / s], outHeight: h, outWidth: w, scaleH: s, scaleW: s, output: `${name}-up.f64` });
    }
    // A 3 x 7 image shrunk by 4 (sizes not multiples of the scale; one output row): MATLAB's
    // ceil(size / scale) output, every tap mirrored.
    const tinyFile = path.join(tmp, 'tiny.png');
    await sharp(photo('coffee')).extract({ left: 300, top: 200, width: 7, height: 3 }).png().toFile(tinyFile);
    const tiny = await kds.readImage(tinyFile);
    got.push({ name: 'tiny', s: 4, tiny: await kds.downscaleBicubic(tiny, 4) });
    jobs.push({ kind: 'resize', input: writeRaw('tiny.f32', tiny), shape: [3, 3, 7], outHeight: 1, outWidth: 2, scaleH: 0.25, scaleW: 0.25, output: 'tiny-down.f64' });
    ref = runReference('resize', jobs);
  });

  test('sizes that are not multiples of the scale: ceil(size / scale) outputs, mirrored borders', () => {
    const { tiny } = got[got.length - 1];
    assert.deepEqual(tiny.shape, [1, 3, 1, 2]);
    const diff = maxAbsDiff(tiny.toFloat32Array(), readFloat64('tiny-down.f64'));
    assert.ok(diff <= 1e-4, `max |kds - reference| = ${diff}`);
  });

  // Stated tolerance: 1e-4 on the 0..255 scale (kds returns float32: about 1.5e-5 of rounding at 255).
  test('downscaling agrees within 1e-4 and rounds to the same 8-bit values', (t) => {
    let worst = 0;
    let allTies = 0;
    let halves = 0;
    got.filter((g) => g.pair).forEach(({ name, s, pair, down, downQ }, k) => {
      const expected = readFloat64(`${name}-down.f64`);
      assert.deepEqual(ref[2 * k].shape, chw(down), name);
      const diff = maxAbsDiff(down.toFloat32Array(), expected);
      worst = Math.max(worst, diff);
      assert.ok(diff <= 1e-4, `${name} x${s}: max |kds - reference| = ${diff}`);
      const q = downQ.toFloat32Array(), lr = pair.lr.toFloat32Array();
      let ties = 0;
      for (let i = 0; i < expected.length; i++) {
        const e = Math.min(255, Math.max(0, expected[i]));
        const fraction = e - Math.floor(e);
        // x2 and x4 weights are dyadic: exact halves are common and both sides compute them exactly
        // (MATLAB rounds them up). Values merely near a half could round either way: not compared.
        if (fraction !== 0.5 && Math.abs(fraction - 0.5) < 1e-9) {
          ties++;
          continue;
        }
        if (fraction === 0.5) halves++;
        const want = Math.floor(e + 0.5);
        if (q[i] !== want || lr[i] !== want) assert.fail(`${name} x${s}: value ${i} is ${q[i]} (dataset LR ${lr[i]}), reference ${expected[i]}`);
      }
      assert.ok(ties < expected.length * 1e-3, `${name}: ${ties} values too close to a half to compare`);
      allTies += ties;
    });
    t.diagnostic(`largest difference from the reference: ${worst.toExponential(2)}; exact halves (rounded up): ${halves}; values within 1e-9 of a half (not compared): ${allTies}`);
  });

  test('upscaling (the bicubic baseline) agrees within 1e-4', (t) => {
    let worst = 0;
    got.filter((g) => g.pair).forEach(({ name, s, up }, k) => {
      assert.deepEqual(ref[2 * k + 1].shape, chw(up), name);
      const diff = maxAbsDiff(up.toFloat32Array(), readFloat64(`${name}-up.f64`));
      worst = Math.max(worst, diff);
      assert.ok(diff <= 1e-4, `${name} x${s}: max |kds - reference| = ${diff}`);
    });
    t.diagnostic(`largest difference from the reference: ${worst.toExponential(2)}`);
  });
});

// --- dataset layouts -----------------------------------------------------------------------------------
describe('datasets', () => {
  test('folder: sorted images, HR cropped to a multiple of the scale, LR made by bicubic', async () => {
    const ds = kds.datasets.folder(evalDir, { scale: 3 });
    assert.deepEqual(ds.names, ['skimage-astronaut', 'skimage-chelsea', 'skimage-coffee', 'skimage-rocket']);
    assert.equal(ds.lrSource, 'bicubic');
    const pair = await ds.get(1); // chelsea, 300 x 451
    assert.deepEqual(pair.hr.shape, [1, 3, 300, 450]);
    assert.deepEqual(pair.lr.shape, [1, 3, 100, 150]);
    const again = await ds.get(1); // from the cache
    assert.deepEqual(again.lr.toFloat32Array(), pair.lr.toFloat32Array());
    const names = [];
    for await (const p of kds.datasets.folder(evalDir, { scale: 2, cacheBytes: 0 })) names.push(p.name);
    assert.equal(names.length, 4);
  });

  test('benchmark and DIV2K layouts read LR files and crop HR to scale x LR', async () => {
    const root = path.join(tmp, 'layouts');
    const evalSet = kds.datasets.folder(evalDir, { scale: 2 });
    for (const [name, index] of [['baby', 1], ['bird', 2]]) {
      // Full-size HR (chelsea is 300 x 451), LR from HR cropped to a multiple of the scale.
      const hr = await kds.readImage(evalSet.files(index).hr);
      const { lr } = await evalSet.get(index);
      fs.mkdirSync(path.join(root, 'Set5', 'HR'), { recursive: true });
      fs.mkdirSync(path.join(root, 'Set5', 'LR_bicubic', 'X2'), { recursive: true });
      await kds.writeImage(path.join(root, 'Set5', 'HR', `${name}.png`), hr);
      // An LR file that is not the bicubic one, to see that the file is what is read.
      const marked = lr.toFloat32Array().map((v) => 255 - v);
      await kds.writeImage(path.join(root, 'Set5', 'LR_bicubic', 'X2', `${name}x2.png`), { data: marked, shape: lr.shape });
    }
    const set5 = kds.datasets.benchmark(root, 'Set5', { scale: 2 });
    assert.equal(set5.lrSource, 'files');
    assert.deepEqual(set5.names, ['baby', 'bird']);
    const baby = await set5.get(0);
    assert.deepEqual(baby.hr.shape, [1, 3, 300, 450]); // 300 x 451 cropped
    assert.deepEqual(baby.lr.shape, [1, 3, 150, 225]);
    assert.deepEqual(baby.lr.toFloat32Array(), (await kds.readImage(path.join(root, 'Set5', 'LR_bicubic', 'X2', 'babyx2.png'))).toFloat32Array());
    assert.equal(kds.datasets.benchmark(root, 'Set5', { scale: 2, lr: 'bicubic' }).lrSource, 'bicubic');
    // No X3 folder: 'auto' makes LR from HR, 'files' insists.
    assert.equal(kds.datasets.benchmark(root, 'Set5', { scale: 3 }).lrSource, 'bicubic');
    assert.throws(() => kds.datasets.benchmark(root, 'Set5', { scale: 3, lr: 'files' }), { code: 'E_FILE', message: /LR folder/ });

    const div2k = path.join(tmp, 'div2k');
    fs.mkdirSync(path.join(div2k, 'DIV2K_train_HR'), { recursive: true });
    fs.mkdirSync(path.join(div2k, 'DIV2K_train_LR_bicubic', 'X2'), { recursive: true });
    fs.copyFileSync(path.join(root, 'Set5', 'HR', 'baby.png'), path.join(div2k, 'DIV2K_train_HR', '0001.png'));
    fs.copyFileSync(path.join(root, 'Set5', 'LR_bicubic', 'X2', 'babyx2.png'), path.join(div2k, 'DIV2K_train_LR_bicubic', 'X2', '0001x2.png'));
    const train = kds.datasets.div2k(div2k, { scale: 2 });
    assert.deepEqual(train.names, ['0001']);
    assert.deepEqual((await train.get(0)).lr.toFloat32Array(), baby.lr.toFloat32Array());
    assert.throws(() => kds.datasets.div2k(div2k, { scale: 2, split: 'valid' }), { code: 'E_FILE', message: /DIV2K_valid_HR/ });

    // An LR file of the wrong size, and a missing one.
    fs.copyFileSync(path.join(root, 'Set5', 'HR', 'bird.png'), path.join(div2k, 'DIV2K_train_LR_bicubic', 'X2', '0001x2.png'));
    await assert.rejects(kds.datasets.div2k(div2k, { scale: 2 }).get(0), { code: 'E_SHAPE', message: /does not match LR/ });
    fs.copyFileSync(path.join(root, 'Set5', 'HR', 'bird.png'), path.join(div2k, 'DIV2K_train_HR', '0002.png'));
    assert.throws(() => kds.datasets.div2k(div2k, { scale: 2 }), { code: 'E_FILE', message: /0002x2\.png' for HR '0002\.png' is missing/ });
  });

  test('bad folders and options', () => {
    assert.throws(() => kds.datasets.folder(path.join(tmp, 'nope'), { scale: 2 }), { code: 'E_FILE', message: /does not exist/ });
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty, { recursive: true });
    fs.writeFileSync(path.join(empty, 'notes.txt'), 'no images here');
    assert.throws(() => kds.datasets.folder(empty, { scale: 2 }), { code: 'E_FILE', message: /has no \.png/ });
    assert.throws(() => kds.datasets.folder(evalDir, {}), { code: 'E_ARG', message: /scale/ });
    assert.throws(() => kds.datasets.folder(evalDir, { scale: 2.5 }), { code: 'E_ARG' });
    assert.throws(() => kds.datasets.folder(evalDir, { scale: 2, split: 'train' }), { code: 'E_ARG', message: /unknown option 'split'/ });
  });
});

// --- the sampler ---------------------------------------------------------------------------------------
describe('createSampler', () => {
  test('batches have the requested shapes and feed kds.train', async () => {
    const sampler = kds.createSampler(kds.datasets.folder(evalDir, { scale: 2 }), { patchSize: 24, batchSize: 4, seed: 1 });
    const { value: batch } = await sampler.next();
    assert.deepEqual(batch.lr.shape, [4, 3, 24, 24]);
    assert.deepEqual(batch.hr.shape, [4, 3, 48, 48]);
    const session = new kds.KDS();
    session.setStudent(kds.models.edsr({ scale: 2, nResblocks: 1, nFeats: 8 }));
    session.setLoss({ SA: false, weights: { DS: 1, TS: 0, SA: 0 } });
    const losses = await session.train(batch.lr, batch.hr);
    assert.ok(Number.isFinite(losses.total) && losses.total > 0);
    await session.dispose();
    sampler.close();
    assert.deepEqual(await sampler.next(), { done: true, value: undefined });
  });

  test('downscaling each HR patch reproduces its LR patch (away from the patch border)', async () => {
    for (const scale of [2, 3]) {
      const sampler = kds.createSampler(kds.datasets.folder(evalDir, { scale }), { patchSize: 20, batchSize: 6, seed: 5 });
      const { value: batch } = await sampler.next();
      sampler.close();
      for (let b = 0; b < 6; b++) {
        const lr = item(batch.lr, b);
        const down = await kds.downscaleBicubic(item(batch.hr, b), scale, { quantize: true });
        // The LR image was made from the whole HR image: pixels within 2 of the patch border also
        // depend on HR pixels outside the patch.
        assert.deepEqual(interior(down.toFloat32Array(), 20, 2), interior(lr.data, 20, 2), `x${scale}, patch ${b}`);
      }
    }
  });

  test('the same seed gives the same batches, whatever the prefetch', async () => {
    const take = async (options, n) => {
      const sampler = kds.createSampler(kds.datasets.folder(evalDir, { scale: 2 }), { patchSize: 16, batchSize: 3, ...options });
      const out = [];
      for await (const batch of sampler) {
        out.push([batch.lr.toFloat32Array(), batch.hr.toFloat32Array()]);
        if (out.length === n) break;
      }
      return out;
    };
    const a = await take({ seed: 42, prefetch: 0 }, 3);
    const b = await take({ seed: 42, prefetch: 4 }, 3);
    const c = await take({ seed: 43 }, 3);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a[0][0], c[0][0]);
    assert.ok(a.every(([lr, hr]) => lr.length === 3 * 3 * 16 * 16 && hr.length === 3 * 3 * 32 * 32));
  });

  test('augmentation covers all 8 symmetries, the same one for LR and HR', async () => {
    // One image whose LR is exactly one patch, so each patch is a symmetry of the whole image.
    const n = 8;
    const dir = await makeFolder('one-patch', {
      'tile.png': (f) => sharp(photo('astronaut')).extract({ left: 180, top: 200, width: 2 * n, height: 2 * n }).png().toFile(f),
    });
    const ds = kds.datasets.folder(dir, { scale: 2 });
    const { lr, hr } = await ds.get(0);
    const lrAll = lr.toFloat32Array(), hrAll = hr.toFloat32Array();
    const seen = new Set();
    const sampler = kds.createSampler(ds, { patchSize: n, batchSize: 64, seed: 3 });
    const { value: batch } = await sampler.next();
    for (let b = 0; b < 64; b++) {
      const lrPatch = item(batch.lr, b).data, hrPatch = item(batch.hr, b).data;
      const t = [0, 1, 2, 3, 4, 5, 6, 7].find((k) => sameArray(symmetry(lrAll, n, k), lrPatch));
      assert.notEqual(t, undefined, `patch ${b} is no symmetry of the image`);
      assert.ok(sameArray(symmetry(hrAll, 2 * n, t), hrPatch), `patch ${b}: HR was not transformed like LR (${t})`);
      seen.add(t);
    }
    assert.equal(seen.size, 8, `symmetries seen: ${[...seen]}`);
    const plain = kds.createSampler(ds, { patchSize: n, batchSize: 5, seed: 3, augment: false });
    const { value: still } = await plain.next();
    for (let b = 0; b < 5; b++) assert.ok(sameArray(item(still.lr, b).data, lrAll));
  });

  test('images smaller than a patch and bad options are reported', async () => {
    const dir = await makeFolder('small', {
      'big.png': (f) => fs.promises.copyFile(photo('coffee'), f),
      'small.png': (f) => sharp(photo('coffee')).resize(40, 30).png().toFile(f),
    });
    const sampler = kds.createSampler(kds.datasets.folder(dir, { scale: 2 }), { patchSize: 24, seed: 1 });
    await assert.rejects(sampler.next(), { code: 'E_SHAPE', message: /smaller than an LR patch of 24 x 24 \(HR 48 x 48\): '.*small\.png' \(LR 15 x 20\)/ });
    const ds = kds.datasets.folder(evalDir, { scale: 2 });
    assert.throws(() => kds.createSampler(ds, { scale: 3 }), { code: 'E_ARG', message: /differs from the dataset's scale/ });
    assert.throws(() => kds.createSampler(ds, { patchSize: 0 }), { code: 'E_ARG' });
    assert.throws(() => kds.createSampler(ds, { seed: -1 }), { code: 'E_ARG' });
    assert.throws(() => kds.createSampler(ds, { batch: 4 }), { code: 'E_ARG', message: /sampler options: unknown option 'batch'/ });
    assert.throws(() => kds.createSampler({}, {}), { code: 'E_ARG' });
  });
});

// --- whole images through a model ----------------------------------------------------------------------
describe('upscale', () => {
  test('tiled equals untiled within 1e-4 when the overlap covers the receptive field', async (t) => {
    let worst = 0;
    kds.manualSeed(7);
    // Receptive field: head conv, 2 blocks of 2 convs, body conv, upsampler conv (LR), tail conv (HR):
    // 7 LR pixels and a half, so an overlap of 8 covers it.
    const model = kds.models.edsr({ scale: 2, nResblocks: 2, nFeats: 16 });
    const lr = (await kds.datasets.folder(evalDir, { scale: 2 }).get(1)).lr; // chelsea, 150 x 225
    const whole = (await kds.upscale(model, lr, { tile: 0 })).toFloat32Array();
    for (const [tile, overlap] of [[64, 8], [50, 12], [37, 8]]) {
      const tiled = await kds.upscale(model, lr, { tile, overlap });
      assert.deepEqual(tiled.shape, [1, 3, 300, 450]);
      const diff = maxAbsDiff(tiled.toFloat32Array(), whole);
      worst = Math.max(worst, diff);
      assert.ok(diff <= 1e-4, `tile ${tile}, overlap ${overlap}: max difference ${diff}`);
    }
    // Without overlap the seams show: the equality above is not vacuous.
    const seams = maxAbsDiff((await kds.upscale(model, lr, { tile: 64, overlap: 0 })).toFloat32Array(), whole);
    assert.ok(seams > 1e-2, `no-overlap difference ${seams}`);
    t.diagnostic(`tiled vs untiled: largest difference ${worst.toExponential(2)}; without overlap ${seams.toFixed(3)}`);
  });

  test('reads a file, writes the PNG output, checks its arguments', async () => {
    const model = kds.models.edsr({ scale: 2, nResblocks: 1, nFeats: 8 });
    const out = path.join(tmp, 'upscaled.png');
    const sr = await kds.upscale(model, photo('coffee'), out, { tile: 128 });
    assert.deepEqual(sr.shape, [1, 3, 800, 1200]);
    const written = (await kds.readImage(out)).toFloat32Array();
    const values = sr.toFloat32Array();
    const worst = values.reduce((m, v, i) => Math.max(m, Math.abs(Math.min(255, Math.max(0, v)) - written[i])), 0);
    assert.ok(worst <= 0.5 + 1e-4, `written PNG differs from the rounded output by ${worst}`);
    await assert.rejects(kds.upscale(model, photo('coffee'), path.join(tmp, 'x.jpg')), { code: 'E_ARG' });
    await assert.rejects(kds.upscale(model, photo('coffee'), { tile: -1 }), { code: 'E_ARG' });
    await assert.rejects(kds.upscale(model, path.join(tmp, 'missing.png')), { code: 'E_FILE' });
    await assert.rejects(kds.upscale({}, photo('coffee')), { code: 'E_ARG' });
  });
});
