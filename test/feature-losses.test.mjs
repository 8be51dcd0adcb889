// Every feature-distillation term (featureLoss) against the FAKD authors' formulas in float64 PyTorch
// (test/fixtures/feature_losses_reference.py): losses and gradients on ragged sizes, pooled variants with
// ceil rounding, different channel counts where a term allows them, and all-zero pixels; both
// implementations of the N x N terms; the registry on both sides; and the errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import kds from '../dist/index.js';
import nativeModule from '../dist/native.js';
import { makeTempDir, removeDir, runFixture } from './helpers/python.mjs';

const { featureLoss, FEATURE_TERMS, parseFeatureSpec, KDSError, Tensor, setNumThreads } = kds;

setNumThreads(2);

// Relative tolerance of float64 results against the float64 reference (observed: at most 1.1e-15; the
// diagnostics print each case's).
const TOLERANCE = 1e-12;

const same = (shapes) => ({ students: shapes, teachers: shapes });
// name, type, shapes, options; `tile` only for the fused N x N terms (small, so that off-diagonal and
// ragged tiles are exercised).
const CASES = [
  { name: 'sa_ragged', type: 'SA', students: [[2, 8, 7, 9], [2, 4, 5, 6]], teachers: [[2, 16, 7, 9], [2, 12, 5, 6]], options: { tile: 7 } },
  { name: 'sa_zero_student', type: 'SA', students: [[2, 6, 9, 9]], teachers: [[2, 10, 9, 9]], options: { tile: 16 }, zeros: 'student' },
  { name: 'sa_zero_both', type: 'SA', students: [[2, 6, 9, 9]], teachers: [[2, 10, 9, 9]], options: { tile: 16, eps: 1e-7 }, zeros: 'both' },
  { name: 'psa_max2_7x9', type: 'PSA', students: [[2, 8, 7, 9]], teachers: [[2, 16, 7, 9]], options: { pool: 'max', poolSize: 2, tile: 6 } },
  { name: 'psa_avg3_13x11', type: 'PSA', students: [[2, 8, 13, 11]], teachers: [[2, 12, 13, 11]], options: { pool: 'avg', poolSize: 3, tile: 5 } },
  { name: 'psa_avg4_10x10', type: 'PSA', students: [[1, 5, 10, 10], [1, 5, 6, 7]], teachers: [[1, 9, 10, 10], [1, 3, 6, 7]], options: { pool: 'avg', poolSize: 4 } },
  { name: 'psa_zero_blocks', type: 'PSA', students: [[2, 6, 9, 11]], teachers: [[2, 8, 9, 11]], options: { pool: 'avg', poolSize: 2, tile: 8 }, zeros: 'both', zeroBlock: 2 },
  { name: 'rbf_max2_ragged', type: 'RBF', students: [[2, 8, 7, 9], [2, 6, 9, 5]], teachers: [[2, 12, 7, 9], [2, 6, 9, 5]], options: { pool: 'max', poolSize: 2, tile: 6 } },
  { name: 'rbf_avg3_P3', type: 'RBF', students: [[2, 6, 13, 11]], teachers: [[2, 10, 13, 11]], options: { pool: 'avg', poolSize: 3, P: 3, gamma: 0.5, tile: 7 } },
  { name: 'rbf_unpooled_P5', type: 'RBF', students: [[1, 4, 6, 7]], teachers: [[1, 7, 6, 7]], options: { P: 5, gamma: 1.5, tile: 9 } },
  { name: 'rbf_zero_student', type: 'RBF', students: [[2, 6, 8, 8]], teachers: [[2, 9, 8, 8]], options: { P: 2, gamma: 1, tile: 20 }, zeros: 'student' },
  { name: 'mmd_max2_ragged', type: 'MMD', students: [[2, 8, 7, 9], [2, 4, 5, 5]], teachers: [[2, 16, 7, 9], [2, 4, 5, 5]], options: { pool: 'max', poolSize: 2, tile: 5 } },
  { name: 'mmd_avg3', type: 'MMD', students: [[2, 6, 13, 11]], teachers: [[2, 3, 13, 11]], options: { pool: 'avg', poolSize: 3, tile: 7 } },
  { name: 'mmd_zero_both', type: 'MMD', students: [[2, 6, 9, 9]], teachers: [[2, 8, 9, 9]], options: { poolSize: 1, tile: 16 }, zeros: 'both' },
  { name: 'ca_sizes_differ', type: 'CA', students: [[2, 6, 7, 9], [2, 4, 5, 5]], teachers: [[2, 6, 9, 8], [2, 4, 4, 6]] },
  { name: 'ca_zero_pixels', type: 'CA', ...same([[2, 5, 6, 6]]), zeros: 'student' },
  { name: 'ia_channels_differ', type: 'IA', students: [[3, 6, 7, 9], [3, 4, 5, 5]], teachers: [[3, 16, 5, 4], [3, 4, 5, 5]] },
  { name: 'ia_zero_pixels', type: 'IA', ...same([[3, 5, 6, 6]]), zeros: 'both' },
  { name: 'fsp_sizes', type: 'FSP', ...same([[2, 4, 8, 8], [2, 5, 4, 4], [2, 3, 6, 6]]) },
  { name: 'fsp_zero_pixels', type: 'FSP', students: [[2, 4, 7, 9], [2, 6, 7, 9]], teachers: [[2, 4, 7, 9], [2, 6, 7, 9]], zeros: 'student' },
  { name: 'at_channels_differ', type: 'AT', students: [[2, 6, 7, 9], [2, 3, 5, 6]], teachers: [[2, 16, 7, 9], [2, 9, 5, 6]] },
  { name: 'at_zero_pixels', type: 'AT', students: [[2, 6, 8, 8]], teachers: [[2, 12, 8, 8]], zeros: 'both' },
  { name: 'fitnet', type: 'fitnet', ...same([[2, 6, 7, 9], [2, 3, 5, 6]]) },
].map((c, i) => ({ seed: 300 + i, options: {}, ...c }));

const N_BY_N = new Set(['SA', 'PSA', 'RBF', 'MMD']);
let dir;
let reference;
const byName = Object.fromEntries(CASES.map((c) => [c.name, c]));

before(async () => {
  dir = makeTempDir('feature-losses');
  reference = await runFixture('feature_losses_reference.py', dir, { cases: CASES });
});

after(() => removeDir(dir));

function readF64(file) {
  const bytes = fs.readFileSync(path.join(dir, file));
  return new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function inputs(name) {
  const c = byName[name];
  return {
    students: c.students.map((shape, i) => ({ data: readF64(`${name}.s${i}.f64`), shape })),
    teachers: c.teachers.map((shape, i) => ({ data: readF64(`${name}.t${i}.f64`), shape })),
    grads: c.students.map((_, i) => readF64(`${name}.g${i}.f64`)),
  };
}

// Elements of pixels whose channel vector is all zero (their gradients are ~1/eps larger than the rest).
function zeroPixelMask({ data, shape }) {
  const [b, c, h, w] = shape;
  const mask = new Uint8Array(data.length);
  for (let n = 0; n < b; n++)
    for (let p = 0; p < h * w; p++) {
      let zero = true;
      for (let ch = 0; ch < c && zero; ch++) zero = data[(n * c + ch) * h * w + p] === 0;
      if (zero) for (let ch = 0; ch < c; ch++) mask[(n * c + ch) * h * w + p] = 1;
    }
  return mask;
}

// max |a - ref| / max |ref| over the elements where mask[i] === group
function relativeError(a, ref, mask, group) {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    if (mask[i] !== group) continue;
    err = Math.max(err, Math.abs(a[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return scale === 0 ? err : err / scale;
}

async function check(t, name, extra = {}) {
  const c = byName[name];
  const ref = inputs(name);
  const result = await featureLoss(c.type, ref.students, ref.teachers, { ...c.options, ...extra });
  const expected = reference[name].loss;
  const lossErr = Math.abs(result.loss - expected) / Math.abs(expected);
  assert.ok(expected > 0, `${name}: the reference loss is 0, the check would be empty`);
  assert.ok(lossErr < TOLERANCE, `${name}: loss ${result.loss} vs reference ${expected} (relative error ${lossErr})`);
  let worst = 0;
  let anyGradient = false;
  result.grads.forEach((g, i) => {
    assert.ok(g.data instanceof Float64Array, 'float64 inputs give float64 gradients');
    assert.deepEqual(g.shape, c.students[i]);
    assert.ok(g.data.every(Number.isFinite), `${name}: gradient ${i} is not finite`);
    const mask = zeroPixelMask(ref.students[i]);
    for (const group of [0, 1]) {
      const err = relativeError(g.data, ref.grads[i], mask, group);
      assert.ok(err < TOLERANCE, `${name}: gradient ${i} (${group ? 'zero' : 'other'} pixels) relative error ${err}`);
      worst = Math.max(worst, err);
    }
    if (ref.grads[i].some((v) => v !== 0)) anyGradient = true;
  });
  assert.ok(anyGradient, `${name}: the reference gradient is all zero, the check would be empty`);
  t.diagnostic(`${name}${extra.impl ? ` (${extra.impl})` : ''}: loss error ${lossErr.toExponential(1)}, gradient error ${worst.toExponential(1)}`);
}

for (const c of CASES) {
  test(`${c.type} ${c.name}: loss and gradients equal the authors' formulas in float64`, async (t) => {
    if (N_BY_N.has(c.type)) {
      await check(t, c.name, { impl: 'fused' });
      await check(t, c.name, { impl: 'plain' });
    } else {
      await check(t, c.name);
    }
  });
}

test("all-zero pixels: kds's gradients stay finite where the authors' sqrt gives NaN", () => {
  // the reference's literal form of the authors' normalisation, on the same inputs
  for (const name of ['sa_zero_student', 'psa_zero_blocks', 'sa_zero_both'])
    assert.equal(reference[name].authorsGradFinite, false, `${name}: the authors' form was expected to give NaN`);
  assert.equal(reference.sa_ragged.authorsGradFinite, true);
});

test('float32: losses agree with the float64 reference, and the automatic tile agrees with small tiles', async () => {
  for (const name of ['sa_ragged', 'psa_avg3_13x11', 'rbf_max2_ragged', 'mmd_avg3', 'ca_sizes_differ', 'ia_channels_differ', 'fsp_sizes', 'at_channels_differ', 'fitnet']) {
    const c = byName[name];
    const ref = inputs(name);
    const f32 = (list) => list.map(({ data, shape }) => ({ data: Float32Array.from(data), shape }));
    const { tile: _tile, ...rest } = c.options; // float32 runs take the default tile
    const r = await featureLoss(c.type, f32(ref.students), f32(ref.teachers), rest);
    assert.ok(r.grads.every((g) => g instanceof Tensor), 'float32 gives Tensors');
    const err = Math.abs(r.loss - reference[name].loss) / reference[name].loss;
    assert.ok(err < 1e-5, `${name}: float32 loss ${r.loss} vs ${reference[name].loss}`);
  }
});

test('the registry: lib and the core name the same terms and options', () => {
  const core = nativeModule.native().featureTerms();
  assert.deepEqual(core.map((t) => t.name).sort(), FEATURE_TERMS.map((t) => t.type).sort());
  for (const row of FEATURE_TERMS) {
    const coreRow = core.find((t) => t.name === row.type);
    assert.deepEqual(coreRow.options.map((o) => o.name).sort(), [...row.options].sort(), `${row.type}: options`);
  }
});

test('parseFeatureSpec reads the authors\' syntax', () => {
  assert.deepEqual(parseFeatureSpec('10*SA+1*AT'), [{ type: 'SA', weight: 10 }, { type: 'AT', weight: 1 }]);
  assert.deepEqual(parseFeatureSpec('PSA + 0.5*fitnet'), [{ type: 'PSA', weight: 1 }, { type: 'fitnet', weight: 0.5 }]);
  const bad = (spec, pattern) => assert.throws(() => parseFeatureSpec(spec), (e) => e instanceof KDSError && e.code === 'E_ARG' && pattern.test(e.message));
  bad('10*XY', /features type must be 'PSA', 'MMD', 'RBF', 'SA', 'CA', 'IA', 'FSP', 'AT' or 'fitnet', got the string 'XY'/);
  bad('-1*SA', /must be a number >= 0/);
  bad('1*2*SA', /WEIGHT\*TYPE/);
  bad('', /features must be a string/);
});

test('featureLoss rejects bad types, options and shapes with KDSErrors', async () => {
  const { students, teachers } = inputs('sa_ragged');
  const rejects = (promise, code, pattern) =>
    assert.rejects(promise, (err) => err instanceof KDSError && err.code === code && pattern.test(err.message));
  await rejects(featureLoss('XY', students, teachers), 'E_ARG', /type must be 'PSA', 'MMD', 'RBF', 'SA', 'CA', 'IA', 'FSP', 'AT' or 'fitnet', got the string 'XY'/);
  await rejects(featureLoss('RBF', students, teachers, { P: -1 }), 'E_ARG', /options\.P must be an integer >= 0/);
  await rejects(featureLoss('RBF', students, teachers, { gamma: 0 }), 'E_ARG', /options\.gamma must be a positive number/);
  await rejects(featureLoss('PSA', students, teachers, { poolSize: 6 }), 'E_ARG', /poolSize 6 is larger than the feature map at position 1 \(5 x 6\)/);
  await rejects(featureLoss('PSA', students, teachers, { pool: 'min' }), 'E_ARG', /options\.pool must be 'max' or 'avg', got the string 'min'/);
  await rejects(featureLoss('SA', students, teachers, { poolSize: 2 }), 'E_ARG', /unknown option 'poolSize'/);
  await rejects(featureLoss('SA', students, teachers.slice(1)), 'E_SHAPE', /2 student feature maps but 1 teacher/);
  await rejects(featureLoss('SA', [], []), 'E_ARG', /students must be a non-empty array/);
  await rejects(featureLoss('CA', students, teachers), 'E_SHAPE', /CA needs the same channel count in student and teacher: at position 0 the student has 8 channels and the teacher 16/);
  await rejects(featureLoss('fitnet', students, teachers), 'E_SHAPE', /fitnet needs the same channel count/);
  await rejects(featureLoss('FSP', students.slice(0, 1), students.slice(0, 1)), 'E_ARG', /FSP needs at least 2 feature positions/);
  const ia = inputs('ia_channels_differ');
  await rejects(featureLoss('AT', ia.students, ia.teachers), 'E_SHAPE', /AT needs student and teacher feature maps of the same height and width: at position 0/);
  const otherBatch = { data: new Float64Array(3 * 16 * 7 * 9), shape: [3, 16, 7, 9] };
  await rejects(featureLoss('SA', students.slice(0, 1), [otherBatch]), 'E_SHAPE', /batch \(2\) and the teacher's \(3\) differ at position 0/);
  await rejects(featureLoss('SA', [{ data: new Float64Array(6), shape: [2, 3] }], teachers.slice(0, 1)), 'E_SHAPE', /must be a feature map/);
  const nan = { data: Float64Array.from(students[0].data), shape: students[0].shape };
  nan.data[5] = NaN;
  await rejects(featureLoss('AT', [nan], teachers.slice(0, 1)), 'E_NAN', /AT loss is not finite/);
});

// The fused N x N terms never hold an N x N matrix: at 128 x 128 pixels one such float32 matrix is 1 GiB,
// yet a fresh process's peak memory grows by far less while it computes the loss and its gradient.
test('fused SA, RBF and MMD: peak memory stays far below one N x N matrix', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const script = `
    const kds = require(${JSON.stringify(new URL('../dist/index.js', import.meta.url).pathname)});
    const fs = require('node:fs');
    const hwm = () => Number(fs.readFileSync('/proc/self/status', 'utf8').match(/^VmHWM:\\s+(\\d+) kB/m)[1]) * 1024;
    const map = (seed) => ({ data: Float32Array.from({ length: 4 * 128 * 128 }, (_, i) => Math.sin(i * 0.37 + seed)), shape: [1, 4, 128, 128] });
    (async () => {
      const s = [map(1)], t = [map(2)];
      await kds.featureLoss(process.argv[1], [{ data: s[0].data.slice(0, 4 * 64), shape: [1, 4, 8, 8] }], [{ data: t[0].data.slice(0, 4 * 64), shape: [1, 4, 8, 8] }]);
      const before = hwm();
      const r = await kds.featureLoss(process.argv[1], s, t);
      process.stdout.write(JSON.stringify({ growth: hwm() - before, loss: r.loss }));
    })();`;
  for (const type of ['SA', 'RBF', 'MMD']) {
    const run = spawnSync(process.execPath, ['-e', script, type], { encoding: 'utf8', env: { ...process.env, KDS_NUM_THREADS: '2' } });
    assert.equal(run.status, 0, run.stderr);
    const { growth, loss } = JSON.parse(run.stdout);
    assert.ok(loss > 0);
    t.diagnostic(`${type}: peak memory grew by ${Math.round(growth / 2 ** 20)} MB`);
    assert.ok(growth < 256 * 2 ** 20, `${type}: peak memory grew by ${Math.round(growth / 2 ** 20)} MB (one N x N matrix: 1024 MB)`);
  }
});
