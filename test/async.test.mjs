// train() runs on a worker thread: the event loop keeps running during a step, overlapping calls run
// one after another in call order, and the session refuses changes while a step is in flight.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KDS, manualSeed, models, setNumThreads } from '../dist/index.js';
import { expectKDSError, lossParts, values } from './helpers/assertions.mjs';
import { randomImage } from './helpers/images.mjs';

// One thread: steps are deterministic (the order test compares losses exactly) and long enough to matter.
setNumThreads(1);

// Identical teacher and student for the same seed.
function distillation(seed, { teacherFeats = 16, studentFeats = 8 } = {}) {
  manualSeed(seed);
  const teacher = models.edsr({ scale: 2, nResblocks: 6, nFeats: teacherFeats, resScale: 0.1 });
  const student = models.edsr({ scale: 2, nResblocks: 3, nFeats: studentFeats });
  return new KDS().setTeacher(teacher).setStudent(student);
}

function batch(seed, size = 16, n = 2) {
  return { lr: randomImage([n, 3, size, size], seed), hr: randomImage([n, 3, 2 * size, 2 * size], seed + 1000) };
}

describe('train() is asynchronous', () => {
  it('the event loop keeps running while a step is in flight', async (t) => {
    // Big enough that one step takes hundreds of milliseconds on one thread.
    const kds = distillation(1, { teacherFeats: 32, studentFeats: 16 });
    const { lr, hr } = batch(1, 48);
    const ticks = [];
    const timer = setInterval(() => ticks.push(performance.now()), 5);
    try {
      const start = performance.now();
      const pending = kds.train(lr, hr);
      assert.equal(ticks.length, 0); // train() returned before any timer could fire
      const losses = await pending;
      const end = performance.now();
      assert.ok(Number.isFinite(losses.total));
      const during = ticks.filter((tick) => tick > start && tick < end);
      // A step that blocked the JS thread would let no timer fire until it returned.
      assert.ok(end - start >= 50, `the step took only ${end - start} ms: too short to show anything`);
      assert.ok(during.length >= 3, `the timer fired ${during.length} times during a ${Math.round(end - start)} ms step`);
      const gaps = [during[0] - start, ...during.slice(1).map((tick, i) => tick - during[i]), end - during.at(-1)];
      t.diagnostic(`a ${Math.round(end - start)} ms step; the 5 ms timer fired ${during.length} times, longest gap ${Math.round(Math.max(...gaps))} ms`);
      assert.ok(Math.max(...gaps) < (end - start) / 2, `the event loop stalled for ${Math.max(...gaps)} ms`);
    } finally {
      clearInterval(timer);
      await kds.dispose();
    }
  });

  it('overlapping train() calls run one after another in call order', async () => {
    const batches = [1, 2, 3, 4].map((s) => batch(10 + s));
    // Reference: the same steps awaited one by one on an identical session.
    const sequential = distillation(2);
    const expected = [];
    for (const b of batches) expected.push(await sequential.train(b.lr, b.hr));

    const overlapped = distillation(2);
    const settled = [];
    const results = await Promise.all(batches.map((b, i) => overlapped.train(b.lr, b.hr).then((r) => {
      settled.push(i);
      return r;
    })));
    assert.deepEqual(settled, [0, 1, 2, 3]);
    // Same losses step by step: each step saw the weights left by the previous one, in call order.
    assert.deepEqual(results.map(lossParts), expected.map(lossParts));
    // And the same final weights.
    const probe = randomImage([1, 3, 9, 7], 99);
    const a = values((await sequential.student.forward(probe)).output);
    const b = values((await overlapped.student.forward(probe)).output);
    assert.deepEqual(b.data, a.data);
    await sequential.dispose();
    await overlapped.dispose();
  });

  it('a setter called while a step runs throws E_STATE and changes nothing', async () => {
    const kds = distillation(3);
    const { teacher, student } = kds;
    const other = models.edsr({ scale: 2, nResblocks: 1, nFeats: 4 });
    const { lr, hr } = batch(5);
    const pending = kds.train(lr, hr);
    const busy = /train\(\) is still running; await it/; // names the call in flight
    await expectKDSError(() => kds.setLoss({ SA: false }), 'E_STATE', busy);
    await expectKDSError(() => kds.setOptimizer({ lr: 1 }), 'E_STATE', busy);
    await expectKDSError(() => kds.setTeacher(other), 'E_STATE', busy);
    await expectKDSError(() => kds.setStudent(other), 'E_STATE', busy);
    await expectKDSError(() => kds.setDevice('cpu'), 'E_STATE', busy);
    const steps = [await pending];
    assert.equal(kds.teacher, teacher);
    assert.equal(kds.student, student);
    // Idle again: setters work. The refused calls had no effect: the next steps equal those of an
    // identical session that never saw them.
    kds.setLoss({ SA: false });
    steps.push(await kds.train(lr, hr));
    const twin = distillation(3);
    const expected = [await twin.train(lr, hr)];
    twin.setLoss({ SA: false });
    expected.push(await twin.train(lr, hr));
    assert.deepEqual(steps.map(lossParts), expected.map(lossParts));
    assert.ok(steps[0].SA > 0 && steps[1].SA === 0);
    await kds.dispose();
    await twin.dispose();
  });
});
