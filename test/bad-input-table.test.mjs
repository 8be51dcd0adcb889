// Bad input across the APIs that test/bad-input.test.mjs (training and setters) does not cover: image
// I/O, datasets, sampler, resizing, metrics, the functional SA loss, the model zoo, upscale/evaluate and
// checkpoints. Table-driven: each case must fail with a KDSError of the given code whose message names
// the problem, and afterwards a valid call of the same family must still work (and a failed checkpoint
// load must leave the student's weights as they were).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  KDS, createSampler, datasets, downscaleBicubic, evaluate, manualSeed, models, psnr, readImage, spatialAffinityLoss, ssim,
  upscale, writeImage,
} from '../dist/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-bad-table-'));
const f = (name) => path.join(dir, name);
const img = (h, w, n = 1, c = 3) => ({ data: Float32Array.from({ length: n * c * h * w }, (_, i) => (i * 29) % 256), shape: [n, c, h, w] });
const feat = (n, c, h, w) => ({ data: Float32Array.from({ length: n * c * h * w }, (_, i) => Math.sin(i)), shape: [n, c, h, w] });

let dataset, edsr, rcan, kds;

before(async () => {
  fs.mkdirSync(f('images'));
  fs.mkdirSync(f('empty'));
  await writeImage(f('images/a.png'), img(16, 16));
  await writeImage(f('images/b.png'), img(16, 12));
  fs.writeFileSync(f('not-an-image.png'), 'hello, not a PNG');
  fs.writeFileSync(f('truncated.png'), fs.readFileSync(f('images/a.png')).subarray(0, 60));
  dataset = datasets.folder(f('images'), { scale: 2 });
  manualSeed(1);
  edsr = models.edsr({ scale: 2, nResblocks: 2, nFeats: 8 });
  rcan = models.rcan({ scale: 2, nResgroups: 2, nResblocks: 1, nFeats: 16, reduction: 4 });
  await edsr.saveStateDict(f('edsr.pt'));
  kds = new KDS().setStudent(edsr).setLoss({ SA: false, weights: { TS: 0 } });
  await kds.saveCheckpoint(f('edsr-checkpoint.pt'));
  const rcanSession = new KDS().setStudent(rcan).setLoss({ SA: false, weights: { TS: 0 } });
  await rcanSession.saveCheckpoint(f('rcan-checkpoint.pt'));
  await rcanSession.dispose();
});

const circular = {};
circular.self = circular;

// [family, what, expected code, message pattern, the failing call]
const CASES = [
  ['image', 'readImage of a number', 'E_ARG', /non-empty path/, () => readImage(42)],
  ['image', 'readImage of an empty path', 'E_ARG', /non-empty path/, () => readImage('')],
  ['image', 'readImage of a missing file', 'E_FILE', /does not exist/, () => readImage(f('missing.png'))],
  ['image', 'readImage of a folder', 'E_FILE', /not a file/, () => readImage(f('images'))],
  ['image', 'readImage of a text file', 'E_FILE', /not a readable PNG/, () => readImage(f('not-an-image.png'))],
  ['image', 'readImage of a truncated PNG', 'E_FILE', /not a readable PNG/, () => readImage(f('truncated.png'))],
  ['image', 'writeImage to a .jpg path', 'E_ARG', /must end in \.png/, () => writeImage(f('out.jpg'), img(4, 4))],
  ['image', 'writeImage of a 1-channel image', 'E_SHAPE', /one RGB image/, () => writeImage(f('out.png'), img(4, 4, 1, 1))],
  ['image', 'writeImage of a batch of two', 'E_SHAPE', /one RGB image/, () => writeImage(f('out.png'), img(4, 4, 2))],
  ['image', 'writeImage with plain-array data', 'E_ARG', /Float32Array/, () => writeImage(f('out.png'), { data: [1, 2, 3], shape: [3, 1, 1] })],
  ['image', 'writeImage into a missing folder', 'E_FILE', /could not write/, () => writeImage(f('no/such/dir/out.png'), img(4, 4))],
  ['data', 'datasets.folder of a missing folder', 'E_FILE', /does not exist/, () => datasets.folder(f('missing'), { scale: 2 })],
  ['data', 'datasets.folder of a file', 'E_FILE', /not a folder/, () => datasets.folder(f('edsr.pt'), { scale: 2 })],
  ['data', 'datasets.folder of a folder without images', 'E_FILE', /has no \.png/, () => datasets.folder(f('empty'), { scale: 2 })],
  ['data', 'datasets.folder with scale 0', 'E_ARG', /scale/, () => datasets.folder(f('images'), { scale: 0 })],
  ['data', 'datasets.folder without options', 'E_ARG', /options must be an object/, () => datasets.folder(f('images'))],
  ['data', 'datasets.folder with an unknown option', 'E_ARG', /unknown option 'colour'/, () => datasets.folder(f('images'), { scale: 2, colour: 'rgb' })],
  ['data', 'datasets.folder with a negative cache', 'E_ARG', /cacheBytes/, () => datasets.folder(f('images'), { scale: 2, cacheBytes: -1 })],
  ['data', 'dataset.get of an index out of range', 'E_ARG', /image index/, () => dataset.get(7)],
  ['data', "datasets.div2k with split 'test'", 'E_ARG', /split must be 'train' or 'valid'/, () => datasets.div2k(dir, { scale: 2, split: 'test' })],
  ['data', 'datasets.benchmark without a set name', 'E_ARG', /name must be a set name/, () => datasets.benchmark(dir, '', { scale: 2 })],
  ['data', 'createSampler of a plain object', 'E_ARG', /must be a kds Dataset/, () => createSampler({}, {})],
  ['data', 'createSampler with patchSize 0', 'E_ARG', /patchSize/, () => createSampler(dataset, { patchSize: 0 })],
  ['data', 'createSampler with batchSize 1.5', 'E_ARG', /batchSize/, () => createSampler(dataset, { batchSize: 1.5 })],
  ['data', "createSampler with a scale unlike the dataset's", 'E_ARG', /differs from the dataset's scale/, () => createSampler(dataset, { scale: 3 })],
  ['data', 'createSampler with an unknown option', 'E_ARG', /sampler options: unknown option 'shuffle'/, () => createSampler(dataset, { shuffle: true })],
  ['data', 'createSampler with prefetch -1', 'E_ARG', /prefetch/, () => createSampler(dataset, { prefetch: -1 })],
  ['data', 'a sampler whose patch is larger than the images', 'E_SHAPE', /smaller than an LR patch/, async () => {
    const s = createSampler(dataset, { patchSize: 40, batchSize: 1, seed: 1, prefetch: 0 });
    try {
      await s.next();
    } finally {
      s.close?.();
    }
  }],
  ['data', 'downscaleBicubic by 0', 'E_ARG', /scale must be an integer/, () => downscaleBicubic(img(8, 8), 0)],
  ['data', 'downscaleBicubic with quantize "yes"', 'E_ARG', /quantize must be a boolean/, () => downscaleBicubic(img(8, 8), 2, { quantize: 'yes' })],
  ['data', 'downscaleBicubic of a rank-3 batch of 2 channels', 'E_SHAPE', /one RGB image/, () => downscaleBicubic({ data: new Float32Array(32), shape: [2, 4, 4] }, 2)],
  ['metrics', 'psnr of images of different sizes', 'E_SHAPE', /size|shape/, () => psnr(img(8, 8), img(8, 6))],
  ['metrics', 'psnr with shave -1', 'E_ARG', /shave must be an integer/, () => psnr(img(8, 8), img(8, 8), { shave: -1 })],
  ['metrics', 'ssim with an unknown option', 'E_ARG', /unknown option 'window'/, () => ssim(img(8, 8), img(8, 8), { window: 7 })],
  ['metrics', 'psnr of a missing file', 'E_FILE', /does not exist/, () => psnr(f('missing.png'), img(8, 8))],
  ['functional', 'SA loss of a rank-3 feature', 'E_SHAPE', /feature map/, () => spatialAffinityLoss({ data: new Float32Array(12), shape: [3, 2, 2] }, feat(1, 3, 2, 2))],
  ['functional', 'SA loss with different batch sizes', 'E_SHAPE', /same batch size/, () => spatialAffinityLoss(feat(2, 4, 3, 3), feat(1, 4, 3, 3))],
  ['functional', 'SA loss with different H x W', 'E_SHAPE', /same batch size and H x W/, () => spatialAffinityLoss(feat(1, 4, 3, 3), feat(1, 4, 3, 4))],
  ['functional', 'SA loss of an empty feature map', 'E_SHAPE', /empty/, () => spatialAffinityLoss(feat(1, 4, 0, 3), feat(1, 4, 0, 3))],
  ['functional', 'SA loss of Int32Array data', 'E_ARG', /Float32Array or a Float64Array/, () => spatialAffinityLoss({ data: new Int32Array(9), shape: [1, 1, 3, 3] }, feat(1, 1, 3, 3))],
  ['functional', "SA loss with impl 'magic'", 'E_ARG', /impl must be/, () => spatialAffinityLoss(feat(1, 4, 3, 3), feat(1, 4, 3, 3), { impl: 'magic' })],
  ['functional', 'SA loss with a pool window larger than the map', 'E_ARG', /larger than the feature map/, () => spatialAffinityLoss(feat(1, 4, 3, 3), feat(1, 4, 3, 3), { pool: 'max', poolSize: 8 })],
  ['functional', "SA loss with dtype 'float16'", 'E_ARG', /dtype must be/, () => spatialAffinityLoss(feat(1, 4, 3, 3), feat(1, 4, 3, 3), { dtype: 'float16' })],
  ['functional', 'SA loss with a negative eps', 'E_ARG', /eps must be/, () => spatialAffinityLoss(feat(1, 4, 3, 3), feat(1, 4, 3, 3), { eps: -1 })],
  ['zoo', 'models.rcan with nFeats 0', 'E_ARG', /nFeats/, () => models.rcan({ nFeats: 0 })],
  ['zoo', 'models.san with a feature group past the last group', 'E_ARG', /featureGroups\[0\]/, () => models.san({ nResgroups: 4, featureGroups: [9] })],
  ['zoo', 'models.edsr with scale 5', 'E_ARG', /scale/, () => models.edsr({ scale: 5 })],
  ['zoo', 'models.edsr with options null', 'E_ARG', /options must be an object/, () => models.edsr(null)],
  ['zoo', 'studentOf a plain object', 'E_ARG', /studentOf needs a teacher/, () => models.studentOf({})],
  ['zoo', 'studentOf with more channels than the teacher', 'E_ARG', /nFeats/, () => models.studentOf(edsr, { nFeats: 64 })],
  ['zoo', 'summary of height 0', 'E_ARG', /height must be a positive integer/, () => edsr.summary({ height: 0, width: 4 })],
  ['zoo', 'summary without a size', 'E_ARG', /summary needs/, () => edsr.summary(null)],
  ['zoo', 'an EDSR state dict loaded into RCAN', 'E_FILE', /does not fit this model/, () => rcan.loadStateDict(f('edsr.pt'))],
  ['zoo', 'loadStateDict with strict "no"', 'E_ARG', /strict must be a boolean/, () => edsr.loadStateDict(f('edsr.pt'), { strict: 'no' })],
  ['zoo', 'upscale with a non-model', 'E_ARG', /model must be a kds Model/, () => upscale({}, img(4, 4))],
  ['zoo', 'upscale to a .jpg file', 'E_ARG', /ending in \.png/, () => upscale(edsr, img(4, 4), f('up.jpg'))],
  ['zoo', 'upscale with tile -1', 'E_ARG', /tile must be an integer/, () => upscale(edsr, img(4, 4), { tile: -1 })],
  ['zoo', 'evaluate on a plain object', 'E_ARG', /dataset must be a kds Dataset/, () => evaluate(edsr, {})],
  ['checkpoint', 'saveCheckpoint with a circular extra', 'E_ARG', /JSON-serialisable/, () => kds.saveCheckpoint(f('c.pt'), circular)],
  ['checkpoint', 'saveCheckpoint to an empty path', 'E_ARG', /non-empty string/, () => kds.saveCheckpoint('')],
  ['checkpoint', 'saveCheckpoint into a missing folder', 'E_FILE', /cannot write/, () => kds.saveCheckpoint(f('no/such/dir/c.pt'))],
  ['checkpoint', 'saveCheckpoint before setStudent', 'E_STATE', /before setStudent/, () => new KDS().saveCheckpoint(f('c.pt'))],
  ['checkpoint', 'loadCheckpoint before setStudent', 'E_STATE', /before setStudent/, () => new KDS().loadCheckpoint(f('edsr-checkpoint.pt'))],
  ['checkpoint', 'loadCheckpoint of a missing file', 'E_FILE', /cannot be read/, () => kds.loadCheckpoint(f('missing.pt'))],
  ['checkpoint', 'loadCheckpoint of a state dict', 'E_FILE', /not a kds checkpoint/, () => kds.loadCheckpoint(f('edsr.pt'))],
  ['checkpoint', 'loadCheckpoint of an RCAN checkpoint into EDSR', 'E_FILE', /does not fit this model/, () => kds.loadCheckpoint(f('rcan-checkpoint.pt'))],
];

// A valid call of each family, run after every failure: the library still works.
const VALID = {
  image: async () => (await readImage(f('images/a.png'))).dispose(),
  data: async () => (await dataset.get(0)).hr.dispose(),
  metrics: async () => assert.equal(await psnr(img(8, 8), img(8, 8)), Infinity),
  functional: async () => assert.ok(Number.isFinite((await spatialAffinityLoss(feat(1, 4, 3, 3), feat(1, 2, 3, 3))).loss)),
  zoo: async () => assert.deepEqual((await edsr.forward(img(4, 4))).output.shape, [1, 3, 8, 8]),
  checkpoint: async () => {
    await kds.loadCheckpoint(f('edsr-checkpoint.pt'));
    await kds.train(img(4, 4), img(8, 8));
  },
};

test(`${CASES.length} bad inputs across data, functional, zoo and checkpoint APIs`, async () => {
  const probe = img(5, 5);
  for (const [family, what, code, pattern, call] of CASES) {
    const before = family === 'checkpoint' ? (await edsr.forward(probe)).output.toFloat32Array() : null;
    await assert.rejects(
      async () => call(),
      (err) => {
        assert.equal(err?.name, 'KDSError', `${what}: not a KDSError: ${err}`);
        assert.equal(err.code, code, `${what}: ${err.message}`);
        assert.match(err.message, pattern, what);
        return true;
      },
      what,
    );
    if (before) assert.deepEqual((await edsr.forward(probe)).output.toFloat32Array(), before, `${what} changed the student`);
    await VALID[family]();
  }
});
