// The feature terms in a training step: setLoss({ features }) reports every term's part, each part equals
// featureLoss on the models' own feature maps, the older forms ({ SA: ... }, weights.SA, positions) mean
// what they meant, and bad options fail with E_ARG / E_SHAPE without changing the student.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import kds from '../dist/index.js';

const { KDS, KDSError, models, manualSeed, featureLoss, setNumThreads } = kds;

setNumThreads(2);

const lr = { data: Float32Array.from({ length: 2 * 3 * 12 * 12 }, (_, i) => (i * 7919) % 256), shape: [2, 3, 12, 12] };
const hr = { data: Float32Array.from({ length: 2 * 3 * 24 * 24 }, (_, i) => (i * 104729) % 256), shape: [2, 3, 24, 24] };

// Teacher and student built from the same seed each time (EDSR: features [head, group 1, group 2, group 3]).
function makeModels(studentFeats = 8) {
  manualSeed(3);
  const teacher = models.edsr({ scale: 2, nResblocks: 3, nFeats: 16 });
  const student = models.edsr({ scale: 2, nResblocks: 3, nFeats: studentFeats });
  return { teacher, student };
}

async function step(loss, studentFeats) {
  const { teacher, student } = makeModels(studentFeats);
  const session = new KDS().setTeacher(teacher).setStudent(student);
  if (loss !== undefined) session.setLoss(loss);
  const losses = await session.train(lr, hr);
  await session.dispose();
  return losses;
}

const close = (a, b, tol, label) => assert.ok(Math.abs(a - b) <= tol * Math.max(Math.abs(b), 1e-12), `${label}: ${a} vs ${b}`);

test('setLoss({ features }): every term reports its part, and the total weighs them', async () => {
  const r = await step({
    weights: { DS: 0.5, TS: 0.5 },
    features: [
      { type: 'SA', weight: 10 },
      { type: 'AT', weight: 1, positions: [1, 2, 3] },
      { type: 'PSA', weight: 1, pool: 'max', poolSize: 2 },
      { type: 'MMD', weight: 2, pool: 'avg', poolSize: 3 },
    ],
  });
  assert.deepEqual(Object.keys(r.parts), ['SA', 'AT', 'PSA', 'MMD']);
  for (const [name, value] of Object.entries(r.parts)) assert.ok(value > 0 && Number.isFinite(value), `${name}: ${value}`);
  assert.equal(r.SA, r.parts.SA);
  close(r.total, 0.5 * r.DS + 0.5 * r.TS + 10 * r.parts.SA + r.parts.AT + r.parts.PSA + 2 * r.parts.MMD, 1e-5, 'total');
});

test("a step's parts equal featureLoss on the models' own feature maps", async () => {
  const { teacher, student } = makeModels(16); // equal channels, so CA, FSP and fitnet apply
  const s = await student.forward(lr);
  const t = await teacher.forward(lr);
  const pick = (list, positions) => positions.map((i) => list[i]);
  const terms = [
    { type: 'SA', positions: [0, 1, 2, 3] },
    { type: 'PSA', positions: [1, 2], pool: 'avg', poolSize: 5 },
    { type: 'RBF', positions: [2, 3], pool: 'max', poolSize: 2, P: 3, gamma: 2 },
    { type: 'MMD', positions: [3], pool: 'max', poolSize: 2 },
    { type: 'CA', positions: [1, 2, 3] },
    { type: 'IA', positions: [0, 3] },
    { type: 'FSP', positions: [1, 2, 3] },
    { type: 'AT', positions: [1, 2, 3] },
    { type: 'fitnet', positions: [2] },
  ];
  const r = await step({ features: terms }, 16);
  for (const { type, positions, ...options } of terms) {
    const expected = await featureLoss(type, pick(s.features, positions), pick(t.features, positions), options);
    close(r.parts[type], expected.loss, 1e-5, type);
  }
});

test('the older forms keep their meaning', async () => {
  const byFeatures = await step({ features: [{ type: 'SA', weight: 1 }] });
  for (const older of [undefined, { SA: true }, { SA: {} }]) {
    const r = await step(older);
    assert.equal(r.total, byFeatures.total, `${JSON.stringify(older)}`);
    assert.equal(r.SA, byFeatures.SA);
  }
  const pooledOld = await step({ SA: { pool: 'max', impl: 'plain' }, weights: { DS: 0.2, TS: 0.3, SA: 3 }, positions: [1, 2] });
  const pooledNew = await step({ weights: { DS: 0.2, TS: 0.3 }, positions: [1, 2], features: [{ type: 'PSA', weight: 3, pool: 'max', poolSize: 2, impl: 'plain' }] });
  assert.equal(pooledOld.total, pooledNew.total);
  assert.equal(pooledOld.SA, pooledNew.parts.PSA);
  assert.deepEqual(Object.keys(pooledOld.parts), ['PSA']);
  const off = await step({ SA: false });
  assert.equal(off.SA, 0);
  assert.deepEqual(off.parts, {});
  close(off.total, 0.5 * off.DS + 0.5 * off.TS, 1e-6, 'SA off');
});

test('no feature terms and TS 0: no teacher needed', async () => {
  const { student } = makeModels();
  const session = new KDS().setStudent(student).setLoss({ weights: { TS: 0 }, features: [] });
  const r = await session.train(lr, hr);
  assert.equal(r.TS, 0);
  close(r.total, 0.5 * r.DS, 1e-6, 'DS only');
  await session.dispose();
});

const probe = { data: Float32Array.from({ length: 3 * 8 * 8 }, (_, i) => (i * 31) % 255), shape: [1, 3, 8, 8] };
const outputOf = async (model) => (await model.forward(probe)).output.toFloat32Array();

test('bad loss options: E_ARG or E_SHAPE, and the student is unchanged', async () => {
  const { teacher, student } = makeModels();
  const session = new KDS().setTeacher(teacher).setStudent(student);
  const before = await outputOf(student);
  const bad = (loss, pattern) => assert.throws(() => session.setLoss(loss), (e) => e instanceof KDSError && e.code === 'E_ARG' && pattern.test(e.message));
  bad({ features: [{ type: 'XY' }] }, /features\[0\]\.type must be 'PSA', 'MMD', 'RBF', 'SA', 'CA', 'IA', 'FSP', 'AT' or 'fitnet'/);
  bad({ features: [{ type: 'SA', weight: -1 }] }, /features\[0\]\.weight must be a finite number >= 0/);
  bad({ features: [{ type: 'RBF', P: -1 }] }, /features\[0\]\.P must be an integer >= 0/);
  bad({ features: [{ type: 'FSP', positions: [2] }] }, /FSP pairs consecutive positions and needs at least 2/);
  bad({ features: [{ type: 'SA', pool: 'max' }] }, /unknown option 'pool'/);
  bad({ features: [{ type: 'SA' }, { type: 'SA', weight: 2 }] }, /SA is listed twice/);
  bad({ features: [{ type: 'SA' }], weights: { SA: 2 } }, /either in features or as SA/);
  bad({ features: [{ type: 'AT', positions: [] }] }, /positions must be a non-empty array/);
  const failsAtStep = async (loss, code, pattern) => {
    session.setLoss(loss);
    await assert.rejects(session.train(lr, hr), (e) => e instanceof KDSError && e.code === code && pattern.test(e.message));
  };
  await failsAtStep({ features: [{ type: 'AT', positions: [1, 4] }] }, 'E_SHAPE', /AT loss: feature position 4 does not exist/);
  await failsAtStep({ features: [{ type: 'PSA', pool: 'avg', poolSize: 13 }] }, 'E_ARG', /poolSize 13 is larger than the feature map at position 0 \(12 x 12\)/);
  await failsAtStep({ features: [{ type: 'CA', positions: [2] }] }, 'E_SHAPE', /CA needs the same channel count in student and teacher: at position 2 the student has 8 channels and the teacher 16/);
  assert.deepEqual(await outputOf(student), before, 'a failed step changed the student');
  await session.dispose();
});

test("setLoss({ features: '10*SA+1*AT' }) reads the authors' syntax", async () => {
  const text = await step({ features: '10*SA+1*AT', positions: [1, 2, 3] });
  const list = await step({ features: [{ type: 'SA', weight: 10 }, { type: 'AT', weight: 1 }], positions: [1, 2, 3] });
  assert.equal(text.total, list.total);
  assert.deepEqual(text.parts, list.parts);
});
