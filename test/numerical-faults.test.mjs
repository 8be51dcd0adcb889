// Numerical faults: a step whose loss or gradients are not finite is rejected with E_NAN and not applied.
// "Not applied" is checked on everything a checkpoint holds: the student's weights, Adam's moments and
// step counts, the step count and the RNG state, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KDS, models, loadTorchScript, manualSeed, setNumThreads } from '../dist/index.js';
import { fixturePath, runPythonSync } from './helpers/python.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-nan-'));

function image(n, h, w, fill = (i) => (i * 37) % 250) {
  return { data: Float32Array.from({ length: n * 3 * h * w }, (_, i) => fill(i)), shape: [n, 3, h, w] };
}

let snapshots = 0;
async function snapshot(kds) {
  const file = path.join(dir, `snapshot-${snapshots++}.pt`);
  await kds.saveCheckpoint(file, { tag: 'same' });
  return fs.readFileSync(file);
}

// Two good steps (so Adam has moments), then `bad` must fail with E_NAN and change nothing; then a good
// step still works and does change the checkpoint (so the comparison can tell).
async function expectStepRejected(kds, lr, hr, bad) {
  setNumThreads(1);
  await kds.train(lr, hr);
  await kds.train(lr, hr);
  const before = await snapshot(kds);
  const steps = kds.stepCount;
  await assert.rejects(bad(), (err) => {
    assert.equal(err.name, 'KDSError');
    assert.equal(err.code, 'E_NAN', err.message);
    assert.match(err.message, /not (applied|finite)|NaN/);
    return true;
  });
  assert.equal(kds.stepCount, steps);
  assert.ok((await snapshot(kds)).equals(before), 'the failed step changed the weights or the optimizer state');
  const losses = await kds.train(lr, hr);
  assert.ok(Number.isFinite(losses.total));
  assert.ok(!(await snapshot(kds)).equals(before), 'a good step after the failure should train');
}

test('a student that overflows on huge inputs (finite input, infinite loss): E_NAN, nothing applied', async () => {
  manualSeed(1);
  const teacher = models.edsr({ scale: 2, nResblocks: 2, nFeats: 8 });
  const student = models.edsr({ scale: 2, nResblocks: 1, nFeats: 6 });
  const kds = new KDS().setTeacher(teacher).setStudent(student).setOptimizer({ lr: 1e-3 });
  const lr = image(1, 6, 6), hr = image(1, 12, 12);
  const huge = image(1, 6, 6, () => 3.3e38);
  await expectStepRejected(kds, lr, hr, () => kds.train(huge, hr));
  await kds.dispose();
});

test('NaN or Inf in the input batch: E_NAN before any work', async () => {
  manualSeed(2);
  const kds = new KDS().setStudent(models.edsr({ scale: 2, nResblocks: 1, nFeats: 6 })).setLoss({ SA: false, weights: { TS: 0 } });
  const lr = image(1, 6, 6), hr = image(1, 12, 12);
  const nanLr = image(1, 6, 6, (i) => (i === 5 ? NaN : 10));
  const infHr = image(1, 12, 12, (i) => (i === 7 ? -Infinity : 10));
  await expectStepRejected(kds, lr, hr, () => kds.train(nanLr, hr));
  await expectStepRejected(kds, lr, hr, () => kds.train(lr, infHr));
  await kds.dispose();
});

test('a TorchScript student whose output is NaN, or whose gradient is NaN with a finite loss: E_NAN, nothing applied', async () => {
  const file = path.join(dir, 'nan_student.pt');
  runPythonSync([fixturePath('nan_student.py'), file]);
  const student = await loadTorchScript(file);
  const kds = new KDS().setStudent(student).setLoss({ SA: false, weights: { TS: 0 } });
  const lr = image(1, 4, 4), hr = image(1, 8, 8);
  const nanOutput = image(1, 4, 4, (i) => (i === 0 ? 255 : 100));
  const nanGradient = image(1, 4, 4, (i) => (i === 1 ? 255 : 100));
  await expectStepRejected(kds, lr, hr, () => kds.train(nanOutput, hr));
  await expectStepRejected(kds, lr, hr, () => kds.train(nanGradient, hr));
  await kds.dispose();
  student.dispose();
});
