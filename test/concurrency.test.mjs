// Concurrency: overlapping train() calls run one at a time in call order; setters during a step throw
// E_STATE; dispose() waits for in-flight work; forwards of one model from several promises (also while it
// trains) are safe and give the same results as sequential calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KDS, KDSError, models, manualSeed, setNumThreads } from '../dist/index.js';

function image(n, h, w, seed) {
  return { data: Float32Array.from({ length: n * 3 * h * w }, (_, i) => (i * 31 + seed * 17) % 256), shape: [n, 3, h, w] };
}

function session() {
  manualSeed(7);
  const teacher = models.edsr({ scale: 2, nResblocks: 2, nFeats: 8 });
  manualSeed(8);
  const student = models.edsr({ scale: 2, nResblocks: 1, nFeats: 6 });
  return { kds: new KDS().setTeacher(teacher).setStudent(student).setOptimizer({ lr: 1e-3 }), teacher, student };
}

const batches = Array.from({ length: 6 }, (_, i) => ({ lr: image(1, 6, 6, i), hr: image(1, 12, 12, i + 100) }));

test('overlapping train() calls queue in call order and match a sequential run exactly', async () => {
  setNumThreads(1);
  const sequential = session();
  const expected = [];
  for (const b of batches) expected.push((await sequential.kds.train(b.lr, b.hr)).total);

  const overlapped = session();
  const order = [];
  const results = await Promise.all(batches.map((b, i) => overlapped.kds.train(b.lr, b.hr).then((r) => (order.push(i), r.total))));
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(results, expected);
  assert.equal(overlapped.kds.stepCount, batches.length);
  await sequential.kds.dispose();
  await overlapped.kds.dispose();
});

test('setters while a step is in flight throw E_STATE and change nothing', async () => {
  const { kds, teacher, student } = session();
  const other = models.edsr({ scale: 2, nResblocks: 1, nFeats: 6 });
  const step = kds.train(batches[0].lr, batches[0].hr);
  const setters = {
    setDevice: () => kds.setDevice('cpu'),
    setTeacher: () => kds.setTeacher(other),
    setStudent: () => kds.setStudent(other),
    setLoss: () => kds.setLoss({ SA: false }),
    setOptimizer: () => kds.setOptimizer({ lr: 1 }),
    setPrecision: () => kds.setPrecision('bf16'),
    setTeacherPrecision: () => kds.setTeacherPrecision('fp32'),
    setMemoryFormat: () => kds.setMemoryFormat('channels_last'),
  };
  for (const [name, call] of Object.entries(setters))
    assert.throws(call, (err) => err instanceof KDSError && err.code === 'E_STATE' && err.message.includes(name), name);
  await step;
  assert.equal(kds.teacher, teacher);
  assert.equal(kds.student, student);
  assert.equal(kds.precision, 'fp32');
  assert.equal(kds.teacherPrecision, 'step');
  assert.equal(kds.memoryFormat, 'contiguous');
  kds.setLoss({ SA: false }); // idle again: setters work
  await kds.train(batches[1].lr, batches[1].hr);
  await kds.dispose();
});

test('dispose() waits for queued steps and saves, then every call is E_STATE', async () => {
  const { kds } = session();
  const settled = [];
  const work = batches.slice(0, 3).map((b, i) => kds.train(b.lr, b.hr).then(() => settled.push(`train ${i}`)));
  const disposed = kds.dispose().then(() => settled.push('dispose'));
  await Promise.all([...work, disposed]);
  assert.deepEqual(settled, ['train 0', 'train 1', 'train 2', 'dispose']);
  await assert.rejects(kds.train(batches[0].lr, batches[0].hr), { code: 'E_STATE' });
  await assert.rejects(kds.saveCheckpoint('/tmp/never.pt'), { code: 'E_STATE' });
  assert.throws(() => kds.setLoss({}), { code: 'E_STATE' });
  await kds.dispose(); // twice is fine
});

test('concurrent forwards of one model (and forwards while it trains) match sequential results', async () => {
  setNumThreads(1);
  const { kds, student } = session();
  const inputs = batches.map((b) => b.lr);
  const expected = [];
  for (const x of inputs) expected.push((await student.forward(x)).output.toFloat32Array());
  const outputs = await Promise.all(inputs.map((x) => student.forward(x)));
  outputs.forEach((o, i) => assert.deepEqual(o.output.toFloat32Array(), expected[i], `forward ${i}`));

  // While training, forwards see the weights before or after a step, never a torn state: every output
  // equals one computed between steps.
  const step = kds.train(batches[0].lr, batches[0].hr);
  const during = student.forward(inputs[1]);
  await step;
  const after = (await student.forward(inputs[1])).output.toFloat32Array();
  const seen = (await during).output.toFloat32Array();
  assert.ok(sameArray(seen, expected[1]) || sameArray(seen, after), 'a forward during a step saw a half-updated model');
  await kds.dispose();
});

function sameArray(a, b) {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}
