// DS, TS and SA of kds's first training step, and the student's gradients, against FAKD's formulas
// computed by PyTorch in float64 on the same TorchScript models and batch (fixtures/make_loss_case.py).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KDS, loadTorchScript, setNumThreads } from '../dist/index.js';
import { assertClose } from './helpers/assertions.mjs';
import { makeTempDir, readTensor, removeDir, runFixture } from './helpers/python.mjs';

// Not for parity (the reference is float64 either way) but for time: these steps are tiny, and the
// fused SA loss in tiles of 7 makes hundreds of small GEMMs; with two threads on a busy 2-core machine
// each pays for thread hand-offs (a case took 13 s instead of under 1 s).
setNumThreads(1);

// kds's documented defaults: SA on over every feature pair, weights DS 0.5, TS 0.5, SA 1, eps 1e-8.
const DEFAULTS = { useSA: true, weights: { DS: 0.5, TS: 0.5, SA: 1 }, positions: null, eps: 1e-8 };
const CUSTOM_WEIGHTS = { DS: 0.2, TS: 0.7, SA: 3 };
// SA alone: the student's gradients then come only from the affinity loss (the fused one has its own
// backward), not swamped by DS and TS.
const SA_ONLY = { DS: 0, TS: 0, SA: 1 };

// options: what the test passes to setLoss (undefined: not called); reference: what PyTorch computes.
const CASES = [
  { name: 'default', options: undefined, reference: DEFAULTS },
  { name: 'plain', options: { SA: { impl: 'plain' } }, reference: DEFAULTS },
  { name: 'custom_fused', options: { weights: CUSTOM_WEIGHTS, positions: [1, 3] },
    reference: { ...DEFAULTS, weights: CUSTOM_WEIGHTS, positions: [1, 3] } },
  { name: 'custom_plain', options: { SA: { impl: 'plain' }, weights: CUSTOM_WEIGHTS, positions: [3, 0] },
    reference: { ...DEFAULTS, weights: CUSTOM_WEIGHTS, positions: [3, 0] } },
  // 120 pixels in tiles of 7: ragged last tiles, and off-diagonal tiles counted twice.
  { name: 'fused_tile7', options: { SA: { tile: 7 } }, reference: DEFAULTS },
  // An eps large enough to matter: with 0.1 the reference SA is 1.09 instead of 1.31.
  { name: 'eps_fused', options: { SA: { eps: 0.1 } }, reference: { ...DEFAULTS, eps: 0.1 } },
  { name: 'eps_plain', options: { SA: { impl: 'plain', eps: 0.1 } }, reference: { ...DEFAULTS, eps: 0.1 } },
  { name: 'sa_only_fused', options: { weights: SA_ONLY }, reference: { ...DEFAULTS, weights: SA_ONLY } },
  { name: 'sa_only_plain', options: { SA: { impl: 'plain' }, weights: SA_ONLY }, reference: { ...DEFAULTS, weights: SA_ONLY } },
  { name: 'no_sa', options: { SA: false }, reference: { ...DEFAULTS, useSA: false } },
];

// kds runs the nets in float32, the reference in float64. Measured: every part within 1.6e-7 relative
// (float32 rounding through a few convolutions and a mean); 2e-6 leaves a 10x margin.
const LOSS_RTOL = 2e-6;
// The first Adam step of each entry is -lr * g / (|g| + eps) with eps the median |g|, so dW/lr lies in
// (-1, 1) and follows the gradient's value wherever |g| is not far above eps. Measured: dW/lr within
// 2.0e-5 of the reference (SA alone, fused), 5.3e-6 (SA alone, plain) and 1.8e-6 otherwise: float32
// rounding of weights and gradients; 2e-4 is a 10x margin. For scale: an SA weight of 2 in place of 1
// in the SA-only case moved dW/lr by 0.17, and leaving SA out of the default case by 0.82.
const STEP_ATOL = 2e-4;

function relativeError(actual, expected) {
  return expected === 0 ? Math.abs(actual) : Math.abs(actual - expected) / Math.abs(expected);
}

describe('FAKD losses of one kds step agree with PyTorch', () => {
  let dir;
  let fixture;
  let lr;
  let hr;

  before(async () => {
    dir = makeTempDir('losses');
    const configs = CASES.map((c) => ({ name: c.name, ...c.reference }));
    fixture = await runFixture('make_loss_case.py', dir, { configs });
    lr = readTensor(dir, fixture.lr);
    hr = readTensor(dir, fixture.hr);
  });
  after(() => removeDir(dir));

  for (const { name, options } of CASES) {
    it(`${name}: setLoss(${JSON.stringify(options) ?? ''}) gives the reference DS, TS, SA and total`, async (t) => {
      const expected = fixture.cases[name];
      const kds = new KDS();
      kds.setTeacher(await loadTorchScript(path.join(dir, 'teacher.pt')));
      kds.setStudent(await loadTorchScript(path.join(dir, 'student.pt')));
      if (options !== undefined) kds.setLoss(options);
      kds.setOptimizer({ lr: expected.adam.lr, eps: expected.adam.eps });
      const losses = await kds.train(lr, hr);
      const worst = Math.max(...['total', 'DS', 'TS', 'SA'].map((part) => relativeError(losses[part], expected.losses[part])));
      t.diagnostic(`largest relative error of the four losses: ${worst.toExponential(2)}`);
      for (const part of ['total', 'DS', 'TS', 'SA'])
        assertClose(losses[part], expected.losses[part], { rtol: LOSS_RTOL, atol: 0 }, `${name} ${part}`);
      if (name === 'no_sa') assert.equal(losses.SA, 0);
      else assert.ok(losses.SA > 0.1, `SA ${losses.SA} is too small to test anything`);
      await kds.saveStudentModel(path.join(dir, `kds_${name}.pt`));
      await kds.dispose();
    });
  }

  it("the student's gradients agree: its first Adam update matches the reference", async (t) => {
    const report = await runFixture('check_loss_updates.py', dir, { names: CASES.map((c) => c.name) },
      { result: 'updates.json' });
    for (const { name } of CASES) {
      const r = report[name];
      assert.ok(r.keysMatch, `${name}: the saved student's parameter names differ from the initial file's`);
      t.diagnostic(`${name}: max |dW/lr - reference| ${r.maxStepDiff.toExponential(2)}, linear share ${r.linearShare.toFixed(2)}`);
      // Most entries must be in Adam's linear range, or the update would only reveal gradient signs.
      assert.ok(r.linearShare > 0.4, `${name}: only ${r.linearShare} of the steps reflect gradient values`);
      assert.ok(r.maxStepDiff <= STEP_ATOL, `${name}: update/lr differs by ${r.maxStepDiff} > ${STEP_ATOL}`);
    }
  });
});
