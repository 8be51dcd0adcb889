// PSNR and SSIM as SR papers compute them, against an independent PyTorch implementation
// (test/fixtures/data_reference.py) on real photographs; evaluate() and its bicubic baseline.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as kds from '../dist/index.js';
import { dataReference } from './helpers/data-reference.mjs';

const require = createRequire(import.meta.url);
const { fetchPhotos } = require('../scripts/fetch-photos.js');

const photos = fetchPhotos(); // throws (fails the file) when the photographs cannot be fetched
const evalDir = path.join(photos.dir, 'eval');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-metrics-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const { run: runReference, writeRaw } = dataReference(tmp);

const SCALES = [2, 3, 4, 2]; // one per evaluation photograph
const PSNR_TOL = 1e-3; // dB
const SSIM_TOL = 1e-4;

describe('psnr / ssim against the reference', () => {
  const rows = [];
  let ref;
  let model;
  let evaluation;
  let bicubicRef;

  before(async () => {
    const quality = [];
    const bicubic = [];
    for (let i = 0; i < SCALES.length; i++) {
      const s = SCALES[i];
      const ds = kds.datasets.folder(evalDir, { scale: s });
      const pair = await ds.get(i);
      const shape = pair.hr.shape.slice(1);
      // SR: bicubic upscaling left unrounded, so the metrics' own quantisation is exercised.
      const sr = await kds.upscaleBicubic(pair.lr, s);
      rows.push({ name: ds.names[i], s, pair, sr, psnr: await kds.psnr(sr, pair.hr, { scale: s }), ssim: await kds.ssim(sr, pair.hr, { scale: s }) });
      quality.push({ kind: 'quality', sr: writeRaw(`sr${i}.f32`, sr), hr: writeRaw(`hr${i}.f32`, pair.hr), shape, shave: s });
    }
    // A model's raw output (values outside 0..255 included) with no border shaved.
    kds.manualSeed(3);
    model = kds.models.edsr({ scale: 2, nResblocks: 1, nFeats: 8 });
    const pair = await kds.datasets.folder(evalDir, { scale: 2 }).get(0);
    const out = await kds.upscale(model, pair.lr);
    rows.push({ name: 'edsr-astronaut', s: 0, pair, sr: out, psnr: await kds.psnr(out, pair.hr), ssim: await kds.ssim(out, pair.hr) });
    quality.push({ kind: 'quality', sr: writeRaw('sr-model.f32', out), hr: writeRaw('hr-model.f32', pair.hr), shape: pair.hr.shape.slice(1), shave: 0 });

    const ds2 = kds.datasets.folder(evalDir, { scale: 2 });
    evaluation = await kds.evaluate(model, ds2, { tile: 0 });
    for (let i = 0; i < ds2.length; i++) {
      const p = await ds2.get(i);
      bicubic.push({ kind: 'bicubic_quality', lr: writeRaw(`blr${i}.f32`, p.lr), lrShape: p.lr.shape.slice(1), hr: writeRaw(`bhr${i}.f32`, p.hr), shape: p.hr.shape.slice(1), scale: 2 });
    }
    const results = runReference('quality', [...quality, ...bicubic]);
    ref = results.slice(0, quality.length);
    bicubicRef = results.slice(quality.length);
  });

  test(`PSNR within ${PSNR_TOL} dB and SSIM within ${SSIM_TOL} on real photographs`, (t) => {
    const worst = { psnr: 0, ssim: 0 };
    rows.forEach((row, i) => {
      worst.psnr = Math.max(worst.psnr, Math.abs(row.psnr - ref[i].psnr));
      worst.ssim = Math.max(worst.ssim, Math.abs(row.ssim - ref[i].ssim));
      assert.ok(Math.abs(row.psnr - ref[i].psnr) <= PSNR_TOL, `${row.name}: PSNR ${row.psnr} vs reference ${ref[i].psnr}`);
      assert.ok(Math.abs(row.ssim - ref[i].ssim) <= SSIM_TOL, `${row.name}: SSIM ${row.ssim} vs reference ${ref[i].ssim}`);
      // Not a degenerate comparison: real, differing images.
      assert.ok(row.psnr > 10 && row.psnr < 60 && row.ssim > 0 && row.ssim < 1, `${row.name}: ${row.psnr} dB, ${row.ssim}`);
    });
    t.diagnostic(`largest differences from the reference: PSNR ${worst.psnr.toExponential(2)} dB, SSIM ${worst.ssim.toExponential(2)}`);
  });

  test('evaluate: per-image scores match psnr/ssim of upscale(), bicubic baseline matches the reference', async () => {
    assert.equal(evaluation.images.length, 4);
    assert.equal(evaluation.scale, 2);
    for (let i = 0; i < evaluation.images.length; i++) {
      const row = evaluation.images[i];
      const pair = await kds.datasets.folder(evalDir, { scale: 2 }).get(i);
      const sr = await kds.upscale(model, pair.lr, { tile: 0 });
      assert.equal(row.psnr, await kds.psnr(sr, pair.hr, { scale: 2 }));
      assert.equal(row.ssim, await kds.ssim(sr, pair.hr, { scale: 2 }));
      assert.ok(Math.abs(row.bicubic.psnr - bicubicRef[i].psnr) <= PSNR_TOL, `${row.name}: bicubic PSNR ${row.bicubic.psnr} vs ${bicubicRef[i].psnr}`);
      assert.ok(Math.abs(row.bicubic.ssim - bicubicRef[i].ssim) <= SSIM_TOL, `${row.name}: bicubic SSIM ${row.bicubic.ssim} vs ${bicubicRef[i].ssim}`);
    }
    const mean = evaluation.images.reduce((a, r) => a + r.bicubic.psnr, 0) / 4;
    assert.ok(Math.abs(evaluation.bicubic.psnr - mean) < 1e-12);
    const table = kds.formatEvaluation(evaluation);
    assert.match(table, /skimage-chelsea/);
    assert.match(table, /^mean\s/m);
  });
});

describe('psnr / ssim arguments', () => {
  test('paths, Tensors, { data, shape } and [3, h, w] give the same numbers', async () => {
    const a = await kds.readImage(path.join(evalDir, 'skimage-coffee.png'));
    const b = await kds.upscaleBicubic(await kds.downscaleBicubic(a, 2), 2, { quantize: true });
    const bFile = path.join(tmp, 'coffee-bicubic.png');
    await kds.writeImage(bFile, b);
    const expected = await kds.psnr(b, a, { scale: 2 });
    assert.equal(await kds.psnr(bFile, path.join(evalDir, 'skimage-coffee.png'), { scale: 2 }), expected);
    assert.equal(await kds.psnr({ data: b.toFloat32Array(), shape: [3, 400, 600] }, a, { shave: 2 }), expected);
    assert.equal(await kds.ssim(bFile, a, { scale: 2 }), await kds.ssim(b, a, { scale: 2 }));
    assert.equal(await kds.psnr(a, a), Infinity);
    assert.equal(await kds.ssim(a, a, { scale: 4 }), 1);
  });

  test('bad arguments are KDSErrors', async () => {
    const a = await kds.readImage(path.join(evalDir, 'skimage-chelsea.png'));
    const small = { data: new Float32Array(3 * 20 * 20), shape: [1, 3, 20, 20] };
    await assert.rejects(kds.psnr(a, small), { code: 'E_SHAPE', message: /same size/ });
    assert.ok((await kds.ssim(small, small, { scale: 4 })) === 1); // 12 x 12 left: enough for one window
    await assert.rejects(kds.ssim(small, small, { scale: 5 }), { code: 'E_SHAPE', message: /leave 10 x 10 after shaving 5 border pixels; SSIM needs at least 11 x 11/ });
    await assert.rejects(kds.psnr({ data: new Float32Array(2 * 3 * 4), shape: [2, 3, 2, 2] }, small), { code: 'E_SHAPE' });
    await assert.rejects(kds.psnr(a, a, { scale: 0 }), { code: 'E_ARG' });
    await assert.rejects(kds.psnr(a, a, { border: 2 }), { code: 'E_ARG', message: /unknown option 'border'/ });
    await assert.rejects(kds.psnr(path.join(tmp, 'missing.png'), a), { code: 'E_FILE' });
    const model = kds.models.edsr({ scale: 3, nResblocks: 1, nFeats: 8 });
    await assert.rejects(kds.evaluate(model, kds.datasets.folder(evalDir, { scale: 2 })), { code: 'E_ARG', message: /x3 but the dataset is x2/ });
  });
});
