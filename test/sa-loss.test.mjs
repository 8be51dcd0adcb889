// The spatial-affinity loss (fused and plain) against the plain formula in float64 PyTorch
// (test/fixtures/make_sa_case.py), a finite-difference check in double precision, and the errors of the
// functional API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import kds from '../dist/index.js';
import { makeTempDir, removeDir, runFixture } from './helpers/python.mjs';

const { spatialAffinityLoss, Tensor, KDSError, KDS, models, manualSeed, setNumThreads } = kds;

// Two threads even on a one-core runner: the CPU sweep then splits images between threads, and that
// split (images shared by two threads) is part of what is tested.
setNumThreads(2);

const TOLERANCE = 1e-5; // relative error of float32 results against the float64 reference

// name -> shapes and options; the fixture draws inputs for each and computes the reference.
const CASES = [
  { name: 'one_tile', batch: 2, cs: 8, ct: 16, height: 12, width: 12 },
  { name: 'ragged_tiles', batch: 2, cs: 16, ct: 48, height: 13, width: 11, tile: 32 },
  { name: 'auto_tile_ragged', batch: 1, cs: 16, ct: 32, height: 50, width: 50 },
  { name: 'batch16', batch: 16, cs: 8, ct: 24, height: 10, width: 10, tile: 16 },
  { name: 'batch1', batch: 1, cs: 4, ct: 6, height: 7, width: 9, tile: 8 },
  { name: 'more_student_channels', batch: 3, cs: 32, ct: 3, height: 8, width: 8, tile: 20 },
  { name: 'tile_of_one', batch: 2, cs: 5, ct: 7, height: 6, width: 6, tile: 1 },
  { name: 'tile_larger_than_map', batch: 2, cs: 5, ct: 7, height: 6, width: 5, tile: 1000 },
  { name: 'zero_student_pixels', batch: 2, cs: 8, ct: 12, height: 9, width: 9, tile: 16, zeros: 'student' },
  { name: 'zero_pixels_both', batch: 2, cs: 8, ct: 12, height: 9, width: 9, tile: 16, zeros: 'both' },
  { name: 'eps_1e-7', batch: 2, cs: 8, ct: 12, height: 9, width: 9, eps: 1e-7, zeros: 'student' },
  { name: 'max_pool', batch: 2, cs: 8, ct: 16, height: 12, width: 14, tile: 10, pool: 'max', poolSize: 2 },
  { name: 'avg_pool', batch: 2, cs: 8, ct: 16, height: 12, width: 12, pool: 'avg', poolSize: 3 },
  { name: 'fd_case', batch: 1, cs: 4, ct: 6, height: 5, width: 5 },
].map((c, i) => ({ seed: 100 + i, pool: 'none', poolSize: 2, eps: 1e-8, ...c }));

let dir;
let manifest;
const byName = Object.fromEntries(CASES.map((c) => [c.name, c]));

before(async () => {
  dir = makeTempDir('sa');
  manifest = await runFixture('make_sa_case.py', dir, { cases: CASES });
});

after(() => removeDir(dir));

function readArray(file, Type) {
  const bytes = fs.readFileSync(path.join(dir, file));
  return new Type(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function inputs(name) {
  const c = byName[name];
  return {
    student: { data: readArray(`${name}.student.f32`, Float32Array), shape: [c.batch, c.cs, c.height, c.width] },
    teacher: { data: readArray(`${name}.teacher.f32`, Float32Array), shape: [c.batch, c.ct, c.height, c.width] },
    grad: readArray(`${name}.grad.f64`, Float64Array),
    loss: manifest[name].loss,
  };
}

function lossOptions(c, extra = {}) {
  const o = { eps: c.eps, pool: c.pool, poolSize: c.poolSize, ...extra };
  if (c.tile !== undefined) o.tile = c.tile;
  return o;
}

// max |a - ref| / max |ref| over the indices `pick` selects (all by default)
function relativeError(a, ref, pick = () => true) {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    if (!pick(i)) continue;
    err = Math.max(err, Math.abs(a[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  assert.ok(scale > 0, 'the reference gradient is all zero: the check would be empty');
  return err / scale;
}

function assertMatches(name, result, tolerance, label) {
  const ref = inputs(name);
  const grad = result.grad.toFloat32Array();
  assert.deepEqual(result.grad.shape, ref.student.shape);
  const lossErr = Math.abs(result.loss - ref.loss) / Math.abs(ref.loss);
  assert.ok(lossErr < tolerance, `${label}: loss ${result.loss} vs reference ${ref.loss} (relative error ${lossErr})`);
  const c = byName[name];
  if (c.zeros) {
    // Zero student pixels get gradients ~1/eps times larger than the rest: check both groups on their own scale.
    const pixels = c.height * c.width;
    const isZeroPixel = (i) => ref.student.data[i] === 0 && isZeroVector(ref.student, Math.floor(i / pixels / c.cs), i % pixels);
    const zeroErr = c.zeros === 'student' ? relativeError(grad, ref.grad, isZeroPixel) : 0;
    const restErr = relativeError(grad, ref.grad, (i) => !isZeroPixel(i));
    assert.ok(zeroErr < tolerance, `${label}: gradient at zero pixels, relative error ${zeroErr}`);
    assert.ok(restErr < tolerance, `${label}: gradient at other pixels, relative error ${restErr}`);
    if (c.zeros === 'both') for (let i = 0; i < grad.length; i++) if (isZeroPixel(i)) assert.equal(grad[i], 0, `${label}: gradient at a pixel zero in both maps`);
  } else {
    const err = relativeError(grad, ref.grad);
    assert.ok(err < tolerance, `${label}: gradient relative error ${err}`);
  }
}

function isZeroVector(map, b, pixel) {
  const [, channels, h, w] = map.shape;
  for (let ch = 0; ch < channels; ch++) if (map.data[(b * channels + ch) * h * w + pixel] !== 0) return false;
  return true;
}

for (const c of CASES) {
  test(`SA loss ${c.name}: fused and plain, float32, match float64 PyTorch`, async () => {
    const { student, teacher } = inputs(c.name);
    assertMatches(c.name, await spatialAffinityLoss(student, teacher, lossOptions(c)), TOLERANCE, 'fused');
    assertMatches(c.name, await spatialAffinityLoss(student, teacher, lossOptions(c, { impl: 'plain' })), TOLERANCE, 'plain');
  });
}

test('SA loss in float64 matches the float64 reference to 1e-10', async () => {
  for (const name of ['ragged_tiles', 'batch16', 'max_pool', 'zero_student_pixels']) {
    const { student, teacher } = inputs(name);
    const result = await spatialAffinityLoss(student, teacher, lossOptions(byName[name], { dtype: 'float64' }));
    // toFloat32Array rounds to float32: compare the loss at 1e-10 and the gradient at float32 resolution
    assertMatches(name, { loss: result.loss, grad: result.grad }, 1e-6, `${name} float64`);
    assert.ok(Math.abs(result.loss - manifest[name].loss) <= 1e-10 * manifest[name].loss, `${name}: float64 loss ${result.loss}`);
  }
});

test('SA loss: automatic and explicit tiles agree, and repeated calls give identical results', async () => {
  const { student, teacher } = inputs('auto_tile_ragged');
  const first = await spatialAffinityLoss(student, teacher);
  const grad = first.grad.toFloat32Array();
  for (const tile of [0, 64, 333, 2500]) {
    const r = await spatialAffinityLoss(student, teacher, { tile });
    assert.ok(Math.abs(r.loss - first.loss) <= 1e-6 * first.loss, `tile ${tile}: loss ${r.loss} vs ${first.loss}`);
    assert.ok(relativeError(r.grad.toFloat32Array(), grad) < 1e-5, `tile ${tile}: gradient differs`);
  }
  // same inputs again, with other shapes in between: bit-identical
  await spatialAffinityLoss(inputs('batch16').student, inputs('batch16').teacher, { tile: 16 });
  const again = await Promise.all([spatialAffinityLoss(student, teacher), spatialAffinityLoss(student, teacher)]);
  for (const r of again) {
    assert.equal(r.loss, first.loss);
    assert.deepEqual(r.grad.toFloat32Array(), grad);
  }
});

test('SA loss accepts Tensors and leaves them unchanged', async () => {
  const { student, teacher } = inputs('one_tile');
  const s = Tensor.from(student);
  const t = Tensor.from(teacher);
  assertMatches('one_tile', await spatialAffinityLoss(s, t), TOLERANCE, 'tensors');
  assert.deepEqual(s.toFloat32Array(), student.data);
  assert.deepEqual(t.toFloat32Array(), teacher.data);
});

// Central differences of the float64 loss against its gradient: per element and along a random direction.
test('SA loss gradient passes a finite-difference check in double precision', async () => {
  const { student, teacher } = inputs('fd_case');
  const s = { data: Float64Array.from(student.data), shape: student.shape };
  const t = { data: Float64Array.from(teacher.data), shape: teacher.shape };
  const options = { tile: 7 }; // several tiles, so the off-diagonal blocks are checked too
  const lossAt = async (data) => (await spatialAffinityLoss({ data, shape: s.shape }, t, options)).loss;
  const { loss, grad: gradTensor } = await spatialAffinityLoss(s, t, options);
  assert.ok(loss > 0);
  const grad = gradTensor.toFloat32Array();
  const h = 1e-6;
  const gradScale = Math.max(...grad.map(Math.abs));
  for (let k = 0; k < 16; k++) {
    const i = (k * 37) % s.data.length;
    const plus = Float64Array.from(s.data);
    const minus = Float64Array.from(s.data);
    plus[i] += h;
    minus[i] -= h;
    const fd = ((await lossAt(plus)) - (await lossAt(minus))) / (2 * h);
    assert.ok(Math.abs(fd - grad[i]) < 1e-6 * gradScale, `element ${i}: finite difference ${fd}, gradient ${grad[i]}`);
  }
  let seed = 7;
  const direction = s.data.map(() => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1);
  const along = (sign) => s.data.map((v, i) => v + sign * h * direction[i]);
  const fd = ((await lossAt(along(1))) - (await lossAt(along(-1)))) / (2 * h);
  const analytic = grad.reduce((acc, g, i) => acc + g * direction[i], 0);
  assert.ok(Math.abs(fd - analytic) < 1e-6 * Math.abs(analytic), `directional derivative: finite difference ${fd}, gradient ${analytic}`);
});

test('SA loss rejects bad arguments with KDSErrors', async () => {
  const { student, teacher } = inputs('one_tile');
  const rejects = (promise, code, pattern) =>
    assert.rejects(promise, (err) => err instanceof KDSError && err.code === code && pattern.test(err.message));
  await rejects(spatialAffinityLoss(null, teacher), 'E_ARG', /student must be a Tensor/);
  await rejects(spatialAffinityLoss(student, { data: [1, 2], shape: [2] }), 'E_ARG', /teacher\.data must be a Float32Array or a Float64Array/);
  await rejects(spatialAffinityLoss({ data: new Float32Array(6), shape: [2, 3] }, teacher), 'E_SHAPE', /student must be a feature map \[batch, channels, height, width\]/);
  await rejects(spatialAffinityLoss({ data: new Float32Array(5), shape: [1, 1, 2, 3] }, teacher), 'E_SHAPE', /needs 6 values/);
  await rejects(spatialAffinityLoss({ data: new Float32Array(0), shape: [2, 8, 0, 12] }, teacher), 'E_SHAPE', /student is empty/);
  const otherSize = { data: new Float32Array(2 * 16 * 12 * 11), shape: [2, 16, 12, 11] };
  await rejects(spatialAffinityLoss(student, otherSize), 'E_SHAPE', /same batch size and H x W/);
  await rejects(spatialAffinityLoss(student, teacher, { impl: 'fast' }), 'E_ARG', /impl must be 'fused' or 'plain'/);
  await rejects(spatialAffinityLoss(student, teacher, { tile: -1 }), 'E_ARG', /tile must be an integer >= 0/);
  await rejects(spatialAffinityLoss(student, teacher, { tile: 2.5 }), 'E_ARG', /tile must be an integer/);
  await rejects(spatialAffinityLoss(student, teacher, { eps: -1 }), 'E_ARG', /eps must be a finite number >= 0/);
  await rejects(spatialAffinityLoss(student, teacher, { pool: 'min' }), 'E_ARG', /pool must be 'none', 'max' or 'avg'/);
  await rejects(spatialAffinityLoss(student, teacher, { pool: 'max', poolSize: 13 }), 'E_ARG', /poolSize 13 is larger than the feature map \(12 x 12\)/);
  await rejects(spatialAffinityLoss(student, teacher, { dtype: 'float16' }), 'E_ARG', /dtype must be 'float32' or 'float64'/);
  await rejects(spatialAffinityLoss(student, teacher, { tiles: 4 }), 'E_ARG', /unknown option 'tiles'/);
  const nan = { data: Float32Array.from(student.data), shape: student.shape };
  nan.data[3] = NaN;
  await rejects(spatialAffinityLoss(nan, teacher), 'E_NAN', /not finite/);
  const disposed = Tensor.from(student);
  disposed.dispose();
  await assert.rejects(spatialAffinityLoss(disposed, teacher), (err) => err instanceof KDSError && err.code === 'E_STATE');
});

// The session uses the same loss: one step with the fused default and one with impl 'plain', from identical
// models and data, report the same SA value.
test("KDS: the fused default and setLoss({ SA: { impl: 'plain' } }) give the same SA loss", async () => {
  const lr = { data: Float32Array.from({ length: 2 * 3 * 12 * 12 }, (_, i) => (i * 7919) % 256), shape: [2, 3, 12, 12] };
  const hr = { data: Float32Array.from({ length: 2 * 3 * 24 * 24 }, (_, i) => (i * 104729) % 256), shape: [2, 3, 24, 24] };
  const step = async (sa) => {
    manualSeed(3);
    const teacher = models.edsr({ scale: 2, nResblocks: 3, nFeats: 16 });
    const student = models.edsr({ scale: 2, nResblocks: 3, nFeats: 8 });
    const session = new KDS().setTeacher(teacher).setStudent(student);
    if (sa) session.setLoss({ SA: sa });
    const losses = await session.train(lr, hr);
    await session.dispose();
    return losses;
  };
  const fused = await step(undefined);
  const plain = await step({ impl: 'plain' });
  assert.ok(fused.SA > 0);
  assert.ok(Math.abs(fused.SA - plain.SA) <= 1e-5 * plain.SA, `SA fused ${fused.SA} vs plain ${plain.SA}`);
  assert.ok(Math.abs(fused.total - plain.total) <= 1e-5 * plain.total);
});
