// Native memory: tensors and models report their bytes to V8 (AdjustExternalMemory; V8's running total is
// read with the internal NativeTensor.externalMemory()) and give them back on dispose() at once, or in their finalizer when the user forgot; a soak of a few
// thousand steps keeps resident memory flat; a disposed object is E_STATE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KDS, Tensor, models } from '../dist/index.js';

const scripts = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'scripts', 'robustness');

// In a child with --expose-gc, so that the GC can be driven.
function inChild(source) {
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', source], { encoding: 'utf8', cwd: scripts });
  return JSON.parse(out.trim().split('\n').pop());
}

const MB = 2 ** 20;
const near = (actual, expected) => assert.ok(Math.abs(actual - expected) < 64 * 1024, `${actual} is not ${expected} +- 64 KB`);

test('tensors: native bytes reported to V8, returned by dispose() at once and by the finalizer', () => {
  const r = inChild(`
    import { Tensor } from '../../dist/index.js';
    import { native } from '../../dist/native.js';
    const ext = () => native().NativeTensor.externalMemory();
    const settle = async () => { gc(); await new Promise((r) => setImmediate(r)); gc(); };
    const values = new Float32Array(16 * 2 ** 20 / 4);
    const e0 = ext();
    const t = Tensor.from({ data: values, shape: [values.length] });
    const e1 = ext();
    t.dispose();
    const e2 = ext();
    (() => { Tensor.from({ data: values, shape: [values.length] }); })(); // dropped without dispose()
    const e3 = ext();
    await settle();
    const e4 = ext();
    // Resident memory: a 128 MB tensor is given back to the OS by dispose(), without waiting for a GC.
    let big = new Float32Array(128 * 2 ** 20 / 4).fill(1);
    const huge = Tensor.from({ data: big, shape: [big.length] });
    big = null;
    await settle();
    const r1 = process.memoryUsage().rss;
    huge.dispose();
    const r2 = process.memoryUsage().rss;
    console.log(JSON.stringify({ added: e1 - e0, afterDispose: e2 - e0, dropped: e3 - e0, afterGc: e4 - e0, rssFreed: r1 - r2 }));
  `);
  // V8's total also moves with Node's own small adjustments: exact where nothing else ran, else +-64 KB.
  assert.equal(r.added, 16 * MB);
  assert.equal(r.afterDispose, 0);
  near(r.dropped, 16 * MB);
  near(r.afterGc, 0);
  assert.ok(r.rssFreed > 120 * MB, `dispose() of a 128 MB tensor gave back only ${(r.rssFreed / MB).toFixed(1)} MB`);
});

test('models: parameter bytes reported to V8, returned by dispose() and by the finalizer', () => {
  const r = inChild(`
    import { models } from '../../dist/index.js';
    import { native } from '../../dist/native.js';
    const ext = () => native().NativeTensor.externalMemory();
    const settle = async () => { gc(); await new Promise((r) => setImmediate(r)); gc(); };
    const e0 = ext();
    const m = models.edsr({ scale: 2, nResblocks: 4, nFeats: 32 });
    const params = m.parameterCount;
    const e1 = ext();
    m.dispose();
    const e2 = ext();
    (() => { models.edsr({ scale: 2, nResblocks: 4, nFeats: 32 }); })();
    const e3 = ext();
    await settle();
    const e4 = ext();
    console.log(JSON.stringify({ params, added: e1 - e0, afterDispose: e2 - e0, dropped: e3 - e0, afterGc: e4 - e0 }));
  `);
  near(r.added, r.params * 4);
  near(r.afterDispose, 0);
  near(r.dropped, r.params * 4);
  near(r.afterGc, 0);
});

test('soak: 2000 training steps with forwards and dropped tensors keep resident memory flat', () => {
  const out = execFileSync(process.execPath, ['--expose-gc', path.join(scripts, 'soak.mjs'), '2000'], { encoding: 'utf8' });
  const { rss, external } = JSON.parse(out.trim().split('\n').pop());
  const half = rss.length / 2;
  const growth = Math.max(...rss.slice(half)) - rss[half - 1];
  console.log(`soak RSS (MB) every 100 of 2000 steps: ${rss.join(', ')}; external: ${external.join(', ')}`);
  // Bound: under 30 MB growth over the second half. Leaking the forward outputs that are dropped without
  // dispose() (every other step, about 300 KB each) would add about 150 MB there.
  assert.ok(growth < 30, `RSS grew ${growth.toFixed(1)} MB over the second half: ${rss.join(', ')}`);
  assert.ok(Math.max(...external.slice(half)) - external[half - 1] < 1, `external memory grew: ${external.join(', ')}`);
});

test('dispose() then use is E_STATE for tensors, models and KDS', async () => {
  const t = Tensor.from({ data: new Float32Array(3), shape: [3] });
  t.dispose();
  assert.throws(() => t.shape, { name: 'KDSError', code: 'E_STATE' });
  assert.throws(() => t.toFloat32Array(), { name: 'KDSError', code: 'E_STATE' });
  t.dispose(); // twice is fine

  const m = models.edsr({ scale: 2, nResblocks: 1, nFeats: 4 });
  m.dispose();
  const x = { data: new Float32Array(3 * 4 * 4), shape: [1, 3, 4, 4] };
  await assert.rejects(m.forward(x), { name: 'KDSError', code: 'E_STATE' });
  await assert.rejects(m.save('/tmp/never.pt'), { name: 'KDSError', code: 'E_STATE' });
  assert.throws(() => m.parameterCount, { name: 'KDSError', code: 'E_STATE' });
  assert.throws(() => new KDS().setStudent(m), { name: 'KDSError', code: 'E_STATE' });

  const kds = new KDS();
  await kds.dispose();
  assert.throws(() => kds.setStudent(models.edsr({ scale: 2, nResblocks: 1, nFeats: 4 })), { name: 'KDSError', code: 'E_STATE' });
  await assert.rejects(kds.train(x, x), { name: 'KDSError', code: 'E_STATE' });
});
