// A TorchScript teacher and student made by Python train for five steps in kds; the per-step losses and
// the saved student's weights agree with the same five steps done in PyTorch
// (fixtures/make_training_case.py), and Python's torch.jit.load reads what saveStudentModel wrote.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KDS, loadTorchScript, setNumThreads } from '../dist/index.js';
import { assertClose } from './helpers/assertions.mjs';
import { makeTempDir, readTensor, removeDir, runFixture } from './helpers/python.mjs';

// One thread here and in the fixture: float32 convolutions and their gradients then use the same
// kernels with the same summation order on both sides, so the runs differ only by the loss
// implementations (kds's fused SA versus the plain formula) and stay within float32 rounding.
setNumThreads(1);

// Measured: the losses of the features run bitwise equal, those of the output-only run within 1.2e-7
// relative (float32 rounding: LibTorch's C++ Adam against torch.optim.Adam); weights within 5.2e-7
// relative (with a 1e-3 floor on |w|) after five steps that moved them by up to 5e-4 and 5e-3; outputs
// within 1.2e-7 of their largest value. The bounds leave a 10x margin or more and stay far below what
// training changed.
const LOSS_RTOL = 2e-6;
const WEIGHT_RTOL = 1e-5;
const OUTPUT_RTOL = 1e-5;

describe('TorchScript teacher and student trained by kds match PyTorch', () => {
  let dir;
  let fixture;
  const kdsLosses = {};

  before(async () => {
    dir = makeTempDir('tstrain');
    fixture = await runFixture('make_training_case.py', dir);
  });
  after(() => removeDir(dir));

  async function trainRun(run, configure) {
    const kds = new KDS();
    kds.setTeacher(await loadTorchScript(path.join(dir, `${run}_teacher.pt`)));
    const student = await loadTorchScript(path.join(dir, `${run}_student.pt`));
    kds.setStudent(student);
    configure(kds);
    kdsLosses[run] = [];
    for (const batch of fixture.batches)
      kdsLosses[run].push(await kds.train(readTensor(dir, batch.lr), readTensor(dir, batch.hr)));
    await kds.saveStudentModel(path.join(dir, `${run}_kds.pt`));
    await kds.dispose();
    return student;
  }

  function assertSameLosses(t, run) {
    const expected = fixture.runs[run].losses;
    assert.equal(kdsLosses[run].length, expected.length);
    let worst = 0;
    expected.forEach((ref, step) => {
      for (const part of ['total', 'DS', 'TS', 'SA'])
        if (ref[part] !== 0) worst = Math.max(worst, Math.abs(kdsLosses[run][step][part] - ref[part]) / Math.abs(ref[part]));
    });
    t.diagnostic(`${run}: largest relative loss difference over ${expected.length} steps ${worst.toExponential(2)}`);
    expected.forEach((ref, step) => {
      for (const part of ['total', 'DS', 'TS', 'SA'])
        assertClose(kdsLosses[run][step][part], ref[part], { rtol: LOSS_RTOL, atol: 1e-9 }, `${run} step ${step} ${part}`);
    });
  }

  it('features student, default loss and default Adam: the five losses agree', async (t) => {
    const student = await trainRun('features', () => {});
    assert.equal(student.kind, 'torchscript');
    assert.equal(student.hasFeatures, true);
    assertSameLosses(t, 'features');
    assert.ok(kdsLosses.features.every((l) => l.SA > 0), 'SA was not computed');
  });

  it('output-only student and teacher, SA off, custom Adam: the five losses agree', async (t) => {
    const adam = fixture.runs.output_only.adam;
    const student = await trainRun('output_only', (kds) => {
      kds.setLoss({ SA: false });
      kds.setOptimizer({ lr: adam.lr, betas: adam.betas, eps: adam.eps });
    });
    assert.equal(student.hasFeatures, false);
    assertSameLosses(t, 'output_only');
    assert.ok(kdsLosses.output_only.every((l) => l.SA === 0));
  });

  it('gradient clipping and the weight average: the five losses agree, and the saved student is the average', async (t) => {
    const adam = fixture.runs.stable.adam;
    const student = await trainRun('stable', (kds) => {
      kds.setOptimizer({ lr: adam.lr, betas: adam.betas, eps: adam.eps, clipGradNorm: 1 });
      kds.setEma(0.9);
    });
    assert.equal(student.hasFeatures, true);
    const norms = fixture.runs.stable.losses[0].gradNorms;
    assert.ok(Math.min(...norms) > 2, `the gradient norms ${norms} must exceed the clip of 1 for this test to mean something`);
    assertSameLosses(t, 'stable');
  });

  it('the saved students load with torch.jit.load and hold the PyTorch-trained weights', async (t) => {
    const report = await runFixture('check_trained_student.py', dir,
      { runs: { features: 'features_kds.pt', output_only: 'output_only_kds.pt', stable: 'stable_kds.pt' } }, { result: 'trained.json' });
    for (const [run, minMoved] of [['features', 1e-4], ['output_only', 1e-3], ['stable', 1e-4]]) {
      const r = report[run];
      assert.ok(r.keysMatch, `${run}: parameter names differ from the PyTorch model's`);
      t.diagnostic(`${run}: weights moved up to ${r.maxMoved.toExponential(2)}; differ up to ${r.maxAbsDiff.toExponential(2)} ` +
        `(relative ${r.maxRelDiff.toExponential(2)}); outputs differ up to ${r.output.maxAbsDiff.toExponential(2)}`);
      assert.ok(r.maxMoved >= minMoved, `${run}: training moved the weights by only ${r.maxMoved}`);
      assert.ok(r.maxRelDiff <= WEIGHT_RTOL, `${run}: weights differ by ${r.maxRelDiff} (relative) > ${WEIGHT_RTOL}`);
      assert.ok(r.maxAbsDiff < r.maxMoved / 100, `${run}: weight difference ${r.maxAbsDiff} is not small against the training change ${r.maxMoved}`);
      assert.ok(r.output.maxAbsDiff <= OUTPUT_RTOL * r.output.maxAbsRef, `${run}: outputs differ by ${r.output.maxAbsDiff}`);
    }
  });
});
