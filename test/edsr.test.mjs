// kds's EDSR against an EDSR written in EDSR-PyTorch's layout (fixtures/kds_reference/models.py): state dicts
// cross over both ways with strict key checking, and outputs and FAKD feature taps agree.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KDS, manualSeed, models } from '../dist/index.js';
import { assertTensorClose, expectKDSError, maxAbsDiff, values } from './helpers/assertions.mjs';
import { randomImage } from './helpers/images.mjs';
import { makeTempDir, readTensor, removeDir, runFixture, writeTensor } from './helpers/python.mjs';

// kds computes in float32, the reference in float64. "Relative error < 1e-5 on the 0..255 scale":
// outputs within 255e-5; feature maps within 1e-5 of their largest magnitude.
const OUTPUT_ATOL = 255e-5;
const FEATURE_RTOL = 1e-5;

// Group sizes n//3, 2n//3 - n//3, n - 2n//3: 5 -> 1/2/2, 4 -> 1/1/2, 7 -> 2/2/3.
const SAVED = [
  { name: 'x2', scale: 2, nResblocks: 5, nFeats: 8, resScale: 1, save: 'save' },
  { name: 'x3', scale: 3, nResblocks: 4, nFeats: 6, resScale: 1, save: 'saveStateDict' },
  { name: 'x4', scale: 4, nResblocks: 7, nFeats: 8, resScale: 0.1, save: 'save' },
];
const WEIGHTS = { scale: 3, nResblocks: 5, nFeats: 8, resScale: 0.1 };

function expectedKeys({ scale, nResblocks }) {
  const keys = ['sub_mean.weight', 'sub_mean.bias', 'head.0.weight', 'head.0.bias'];
  for (let i = 0; i < nResblocks; i++)
    for (const k of ['body.0.weight', 'body.0.bias', 'body.2.weight', 'body.2.bias']) keys.push(`body.${i}.${k}`);
  keys.push(`body.${nResblocks}.weight`, `body.${nResblocks}.bias`);
  for (let i = 0; i < (scale === 3 ? 1 : Math.log2(scale)); i++) keys.push(`tail.0.${2 * i}.weight`, `tail.0.${2 * i}.bias`);
  keys.push('tail.1.weight', 'tail.1.bias', 'add_mean.weight', 'add_mean.bias');
  return keys.sort();
}

function assertFeaturesClose(actual, expected, label) {
  assert.equal(actual.length, 4, `${label}: kds returns ${actual.length} feature maps, FAKD's EDSR taps 4`);
  assert.equal(expected.length, 4);
  actual.forEach((f, i) => {
    const { diff, ref } = maxAbsDiff(f.data, expected[i].data);
    assert.deepEqual([...f.shape], [...expected[i].shape], `${label} feature ${i} shape`);
    assert.ok(diff <= FEATURE_RTOL * ref, `${label} feature ${i}: max |diff| ${diff} > ${FEATURE_RTOL} * ${ref}`);
  });
}

async function forwardValues(model, input) {
  const r = await model.forward(input);
  return { output: values(r.output), features: r.features.map(values) };
}

describe('kds EDSR and EDSR-PyTorch', () => {
  let dir;
  let weights; // fixture: Python-written random weights and their outputs
  let report; // fixture: kds-written files loaded in Python
  const kdsRuns = {}; // name -> { output, features } from kds's forward
  const cases = [];

  before(async () => {
    dir = makeTempDir('edsr');
    weights = await runFixture('make_edsr_weights.py', dir, WEIGHTS);

    const input = randomImage([1, 3, 7, 9], 11); // odd height and width
    const inputEntry = writeTensor(dir, 'odd_input', input);
    for (const c of SAVED) {
      manualSeed(100 + c.scale);
      const model = models.edsr({ scale: c.scale, nResblocks: c.nResblocks, nFeats: c.nFeats, resScale: c.resScale });
      await model[c.save](path.join(dir, `${c.name}.pt`));
      kdsRuns[c.name] = await forwardValues(model, input);
      cases.push({ ...c, file: `${c.name}.pt`, input: inputEntry });
    }

    // A student EDSR trained from an EDSR teacher for two steps, then saved by the session.
    manualSeed(7);
    const teacher = models.edsr({ scale: 2, nResblocks: 6, nFeats: 12, resScale: 0.1 });
    const student = models.edsr({ scale: 2, nResblocks: 3, nFeats: 6 });
    const untrained = await forwardValues(student, input);
    const kds = new KDS();
    kds.setTeacher(teacher).setStudent(student).setOptimizer({ lr: 1e-3 });
    for (const seed of [1, 2]) {
      const lr = randomImage([2, 3, 8, 10], seed);
      const hr = randomImage([2, 3, 16, 20], seed + 50);
      const losses = await kds.train(lr, hr);
      assert.ok(losses.SA > 0 && losses.TS > 0 && losses.DS > 0, `losses ${JSON.stringify(losses)}`);
    }
    await kds.saveStudentModel(path.join(dir, 'trained.pt'));
    await kds.dispose();
    kdsRuns.trained = await forwardValues(student, input);
    kdsRuns.trained.changed = maxAbsDiff(kdsRuns.trained.output.data, untrained.output.data).diff;
    cases.push({ name: 'trained', file: 'trained.pt', scale: 2, nResblocks: 3, nFeats: 6, resScale: 1, input: inputEntry });

    report = await runFixture('check_edsr_files.py', dir, { cases }, { result: 'edsr_check.json' });
  });
  after(() => removeDir(dir));

  for (const c of SAVED) {
    it(`x${c.scale} (${c.nResblocks} blocks) ${c.save}() loads with load_state_dict(strict=True) and gives the same output`, (t) => {
      const r = report[c.name];
      assert.equal(r.loadError, undefined, r.loadError);
      assert.deepEqual([...r.keys].sort(), expectedKeys(c));
      assert.deepEqual(r.dtypes, ['torch.float32']);
      const expected = readTensor(dir, r.output);
      assert.deepEqual(expected.shape, [1, 3, 7 * c.scale, 9 * c.scale]);
      t.diagnostic(`max |kds - PyTorch| on the output: ${maxAbsDiff(kdsRuns[c.name].output.data, expected.data).diff.toExponential(2)}`);
      assertTensorClose(kdsRuns[c.name].output, expected, OUTPUT_ATOL, `x${c.scale} output`);
    });
  }

  it("FAKD's four feature taps (head, three groups, the last with the global skip) match Python's", () => {
    for (const c of SAVED)
      assertFeaturesClose(kdsRuns[c.name].features, report[c.name].features.map((e) => readTensor(dir, e)), c.name);
  });

  it('an EDSR student trained for two steps from an EDSR teacher saves a state dict Python loads', () => {
    const r = report.trained;
    assert.equal(r.loadError, undefined, r.loadError);
    assert.ok(kdsRuns.trained.changed > 1e-3, `training changed the output by only ${kdsRuns.trained.changed}`);
    assertTensorClose(kdsRuns.trained.output, readTensor(dir, r.output), OUTPUT_ATOL, 'trained output');
    assertFeaturesClose(kdsRuns.trained.features, r.features.map((e) => readTensor(dir, e)), 'trained');
  });

  it('loadStateDict of a torch.save state dict gives the Python outputs', async () => {
    for (const file of ['random_weights.pt', 'random_weights_wrapped.pt']) {
      manualSeed(5);
      const model = models.edsr(WEIGHTS);
      await model.loadStateDict(path.join(dir, file));
      const got = await forwardValues(model, readTensor(dir, weights.input));
      assertTensorClose(got.output, readTensor(dir, weights.output), OUTPUT_ATOL, `${file} output`);
      assertFeaturesClose(got.features, weights.features.map((e) => readTensor(dir, e)), file);
    }
  });

  it('a wrongly shaped or incomplete state dict fails with E_FILE and changes nothing', async () => {
    const model = models.edsr(WEIGHTS);
    const input = readTensor(dir, weights.input);
    const initial = await forwardValues(model, input);
    await expectKDSError(() => model.loadStateDict(path.join(dir, 'wrong_shape.pt')), 'E_FILE',
      /wrongly shaped keys.*head\.0\.weight \(file \[12, 3, 3, 3\], model \[8, 3, 3, 3\]\)/s);
    await expectKDSError(() => model.loadStateDict(path.join(dir, 'missing_keys.pt')), 'E_FILE',
      /missing keys \(4\): tail\.0\.0\.weight, tail\.0\.0\.bias, tail\.1\.weight, tail\.1\.bias/);
    const unchanged = await forwardValues(model, input);
    assert.deepEqual(unchanged.output.data, initial.output.data, 'a failed load changed the model');
    // Without strict, missing keys are allowed: head and body load (so every feature tap matches
    // Python's) and the tail keeps its own weights (so the output does not).
    await model.loadStateDict(path.join(dir, 'missing_keys.pt'), { strict: false });
    const partial = await forwardValues(model, input);
    assertFeaturesClose(partial.features, weights.features.map((e) => readTensor(dir, e)), 'partial load');
    assert.ok(maxAbsDiff(partial.output.data, readTensor(dir, weights.output).data).diff > 1,
      'the tail was loaded although its keys were missing');
  });
});
