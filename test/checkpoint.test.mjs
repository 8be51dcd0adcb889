// Training checkpoints: resuming reproduces the uninterrupted run exactly on CPU; a checkpoint that does
// not fit changes nothing; Python's torch.load reads the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KDS, models, manualSeed, setNumThreads } from '../dist/index.js';
import { runPythonSync } from './helpers/python.mjs';

function batch(seed, n = 2, h = 10, w = 10, scale = 2) {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 255;
  return {
    lr: { data: Float32Array.from({ length: n * 3 * h * w }, rand), shape: [n, 3, h, w] },
    hr: { data: Float32Array.from({ length: n * 3 * h * w * scale * scale }, rand), shape: [n, 3, h * scale, w * scale] },
  };
}

// The losses of a step, without its wall-clock timings (which differ from run to run).
function losses({ total, DS, TS, SA }) {
  return { total, DS, TS, SA };
}

function session(teacherSeed = 1, studentSeed = 2) {
  manualSeed(teacherSeed);
  const teacher = models.edsr({ scale: 2, nResblocks: 3, nFeats: 8 });
  manualSeed(studentSeed);
  const student = models.edsr({ scale: 2, nResblocks: 2, nFeats: 6 });
  const kds = new KDS().setTeacher(teacher).setStudent(student).setOptimizer({ lr: 1e-3 });
  return { kds, teacher, student };
}

test('resuming from a checkpoint reproduces the uninterrupted losses exactly', async () => {
  setNumThreads(1); // one thread: identical floating-point reduction order in both runs
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-ckpt-'));
  const steps = 6, cut = 3;

  const straight = session();
  const expected = [];
  for (let i = 0; i < steps; i++) {
    const { lr, hr } = batch(100 + i);
    expected.push(losses(await straight.kds.train(lr, hr)));
  }

  const first = session();
  for (let i = 0; i < cut; i++) {
    const { lr, hr } = batch(100 + i);
    await first.kds.train(lr, hr);
  }
  const file = path.join(dir, 'ckpt.pt');
  await first.kds.saveCheckpoint(file, { step: cut, note: 'resume test' });
  await first.kds.dispose();

  // A fresh process state: new models with other random weights, same teacher.
  const resumed = session(1, 99);
  const extra = await resumed.kds.loadCheckpoint(file);
  assert.deepEqual(extra, { step: cut, note: 'resume test' });
  assert.equal(resumed.kds.stepCount, cut);
  for (let i = cut; i < steps; i++) {
    const { lr, hr } = batch(100 + i);
    const got = losses(await resumed.kds.train(lr, hr));
    assert.deepEqual(got, expected[i], `step ${i + 1}`);
  }
});

test('a checkpoint of another architecture is rejected and changes nothing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-ckpt-'));
  const other = session();
  const { lr, hr } = batch(7);
  await other.kds.train(lr, hr);
  const file = path.join(dir, 'other.pt');
  await other.kds.saveCheckpoint(file);

  manualSeed(3);
  const student = models.edsr({ scale: 2, nResblocks: 2, nFeats: 10 }); // different width
  const kds = new KDS().setTeacher(other.teacher).setStudent(student);
  const before = (await student.forward(lr)).output.toFloat32Array();
  await assert.rejects(kds.loadCheckpoint(file), (err) => err.code === 'E_FILE' && /wrongly shaped/.test(err.message));
  const after = (await student.forward(lr)).output.toFloat32Array();
  assert.deepEqual(after, before);
  assert.equal(kds.stepCount, 0);

  fs.writeFileSync(path.join(dir, 'junk.pt'), 'not a checkpoint');
  await assert.rejects(kds.loadCheckpoint(path.join(dir, 'junk.pt')), (err) => err.code === 'E_FILE');
  await assert.rejects(kds.loadCheckpoint(path.join(dir, 'missing.pt')), (err) => err.code === 'E_FILE' && /missing\.pt/.test(err.message));
  // A plain state dict is not a checkpoint either.
  await student.saveStateDict(path.join(dir, 'weights.pt'));
  await assert.rejects(kds.loadCheckpoint(path.join(dir, 'weights.pt')), (err) => err.code === 'E_FILE' && /checkpoint/.test(err.message));
});

test('torch.load reads a checkpoint: student weights, Adam moments, steps, extra', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-ckpt-'));
  const { kds, student } = session();
  const { lr, hr } = batch(11);
  await kds.train(lr, hr);
  await kds.train(lr, hr);
  const file = path.join(dir, 'ckpt.pt');
  await kds.saveCheckpoint(file, { hello: 'world' });
  const weights = path.join(dir, 'weights.pt');
  await student.saveStateDict(weights);
  const script = `
import json, sys, torch
c = torch.load(sys.argv[1])
w = torch.load(sys.argv[2])
assert c['format'] == 'kds-checkpoint-1', c['format']
assert c['steps'] == 2, c['steps']
assert json.loads(c['extra']) == {'hello': 'world'}
assert set(c['student']) == set(w), (sorted(c['student']), sorted(w))
for k in w:
    assert torch.equal(c['student'][k], w[k]), k
steps = [int(v) for k, v in c['optimizer'].items() if k.endswith('.step')]
assert steps and all(s == 2 for s in steps), steps
print('ok', len(w))
`;
  const out = runPythonSync(['-c', script, file, weights]);
  assert.match(out, /^ok \d+/);
});
