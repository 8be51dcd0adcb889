// The native step reports where its time went (bench/ uses it): every phase is measured, and the phases
// add up to the step's total, which cannot exceed the wall time of `await kds.train()`.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import test from 'node:test';

import { KDS, manualSeed, models, Tensor } from '../dist/index.js';

const PHASES = ['prepare', 'teacherForward', 'studentForward', 'loss', 'backward', 'optimizer'];

function image(shape) {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => (i * 37) % 256);
  return Tensor.from({ data, shape });
}

test('train() returns per-phase timings that add up to the native step time', async () => {
  manualSeed(1);
  const kds = new KDS();
  kds.setTeacher(models.edsr({ nResblocks: 2, nFeats: 8 }));
  kds.setStudent(models.edsr({ nResblocks: 1, nFeats: 4 }));
  kds.setLoss({ SA: true });
  const lr = image([1, 3, 8, 8]);
  const hr = image([1, 3, 16, 16]);
  for (let step = 0; step < 2; step++) {
    const start = performance.now();
    const result = await kds.train(lr, hr);
    const wall = performance.now() - start;
    const t = result.timings;
    assert.deepEqual(Object.keys(t).sort(), [...PHASES, 'total'].sort());
    for (const key of [...PHASES, 'total']) assert.ok(Number.isFinite(t[key]) && t[key] >= 0, `${key} = ${t[key]}`);
    const sum = PHASES.reduce((acc, key) => acc + t[key], 0);
    assert.ok(sum <= t.total + 1e-6, `phases add up to ${sum} ms, more than the total ${t.total} ms`);
    // The phases are consecutive, so they cover the step up to the moment the total is read.
    assert.ok(t.total - sum <= Math.max(5, 0.05 * t.total), `total ${t.total} ms, but the phases cover only ${sum} ms`);
    assert.ok(t.total <= wall, `native total ${t.total} ms exceeds the wall time ${wall} ms`);
    assert.ok(t.teacherForward > 0 && t.studentForward > 0 && t.backward > 0, 'the forward and backward phases take time');
  }
  await kds.dispose();
});
