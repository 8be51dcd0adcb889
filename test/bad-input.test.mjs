// Every bad input of issue 2 gets a KDSError with the right code and a message that names the problem;
// the process keeps running, and nothing changes: the student's output is bit for bit the same after
// the failed calls, and the next valid step equals that of an identical session that never saw them
// (same losses, same weights after), so neither the weights nor Adam's state were touched.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { info, KDS, loadTorchScript, manualSeed, models, setNumThreads, Tensor } from '../dist/index.js';
import { expectKDSError, lossParts, values } from './helpers/assertions.mjs';
import { randomImage } from './helpers/images.mjs';
import { makeTempDir, removeDir, runFixture } from './helpers/python.mjs';

// One thread keeps these small steps fast on a busy machine; comparisons are within one process.
setNumThreads(1);

const LR = randomImage([2, 3, 8, 8], 1);
const HR = randomImage([2, 3, 16, 16], 2);
const PROBE = randomImage([1, 3, 5, 6], 3);

function edsrPair(seed = 1, teacherScale = 2) {
  manualSeed(seed);
  return {
    teacher: models.edsr({ scale: teacherScale, nResblocks: 3, nFeats: 8 }),
    student: models.edsr({ scale: 2, nResblocks: 3, nFeats: 4 }),
  };
}

async function outputOf(model) {
  return values((await model.forward(PROBE)).output).data;
}

/**
 * Runs `spoil(kds, models)` (the failing calls) on a session with make()'s teacher and student (unless
 * `unset`: then spoil must set them), checks the student is unchanged, applies `settle` (e.g. a loss that
 * suits the models) to it and to a twin session built the same way, and checks one valid step gives the
 * same losses and weights on both.
 */
async function expectNoHarm(make, spoil, { settle = () => {}, unset = false } = {}) {
  const m = await make();
  const kds = new KDS();
  if (!unset) kds.setTeacher(m.teacher).setStudent(m.student);
  const initial = await outputOf(m.student);
  await spoil(kds, m);
  assert.deepEqual(await outputOf(m.student), initial, 'a failed call changed the student');

  const t = await make();
  const twin = new KDS().setTeacher(t.teacher).setStudent(t.student);
  settle(kds);
  settle(twin);
  const losses = await kds.train(LR, HR);
  assert.deepEqual(lossParts(losses), lossParts(await twin.train(LR, HR)), 'the valid step after the failures differs from a clean session');
  assert.deepEqual(await outputOf(m.student), await outputOf(t.student), 'the weights after the valid step differ');
  assert.notDeepEqual(await outputOf(m.student), initial, 'the valid step did not train');
  await kds.dispose();
  await twin.dispose();
}

describe('bad input: a clear KDSError, and nothing changes', () => {
  let dir;
  const file = (name) => path.join(dir, name);

  before(async () => {
    dir = makeTempDir('bad');
    await runFixture('make_bad_models.py', dir);
  });
  after(() => removeDir(dir));

  it('train() or saveStudentModel() before a student or teacher is set: E_STATE', async () => {
    await expectNoHarm(edsrPair, async (kds, { teacher, student }) => {
      await expectKDSError(() => kds.train(LR, HR), 'E_STATE', /train\(\) before setStudent\(\)/);
      await expectKDSError(() => kds.saveStudentModel(file('never.pt')), 'E_STATE', /before setStudent\(\)/);
      kds.setStudent(student);
      await expectKDSError(() => kds.train(LR, HR), 'E_STATE', /train\(\) before setTeacher\(\)/);
      assert.equal(fs.existsSync(file('never.pt')), false);
      kds.setTeacher(teacher);
    }, { unset: true });
  });

  it('wrong rank, shape, channel count or data: E_SHAPE / E_ARG', async () => {
    await expectNoHarm(edsrPair, async (kds) => {
      const shapeMsg = /must have shape \[n, 3, h, w\]/;
      await expectKDSError(() => kds.train(randomImage([3, 8, 8]), HR), 'E_SHAPE', /lr must have shape \[n, 3, h, w\].*got \[3, 8, 8\]/);
      await expectKDSError(() => kds.train(randomImage([2, 4, 8, 8]), HR), 'E_SHAPE', /lr must have shape.*got \[2, 4, 8, 8\]/);
      await expectKDSError(() => kds.train(LR, randomImage([2, 1, 16, 16])), 'E_SHAPE', /hr must have shape.*got \[2, 1, 16, 16\]/);
      await expectKDSError(() => kds.train(randomImage([2, 3, 8, 8, 1]), HR), 'E_SHAPE', shapeMsg);
      await expectKDSError(() => kds.train(randomImage([0, 3, 8, 8]), HR), 'E_SHAPE', /lr is empty/);
      await expectKDSError(() => kds.train({ data: new Float32Array(10), shape: [2, 3, 8, 8] }, HR), 'E_SHAPE',
        /lr\.shape \[2, 3, 8, 8\] needs 384 values, but lr\.data has 10/);
      await expectKDSError(() => kds.train({ data: Array.from(LR.data), shape: LR.shape }, HR), 'E_ARG',
        /lr\.data must be a Float32Array/);
      await expectKDSError(() => kds.train({ data: LR.data, shape: [2, 3, 8, -8] }, HR), 'E_ARG', /lr\.shape must be an array of non-negative integers/);
      await expectKDSError(() => kds.train(LR), 'E_ARG', /hr must be a Tensor or \{ data: Float32Array, shape: number\[\] \}/);
      const wrong = Tensor.from(randomImage([2, 3, 8], 4));
      await expectKDSError(() => kds.train(wrong, HR), 'E_SHAPE', /lr must have shape.*got \[2, 3, 8\]/);
    });
  });

  it('HR that is not scale x LR, or a different batch size: E_SHAPE', async () => {
    await expectNoHarm(edsrPair, async (kds) => {
      const notScale = /hr must be x2 the size of lr: lr \[2, 3, 8, 8\] needs hr \[2, 3, 16, 16\]/;
      await expectKDSError(() => kds.train(LR, randomImage([2, 3, 16, 17])), 'E_SHAPE', notScale);
      await expectKDSError(() => kds.train(LR, randomImage([2, 3, 24, 24])), 'E_SHAPE', notScale);
      await expectKDSError(() => kds.train(LR, randomImage([2, 3, 8, 8])), 'E_SHAPE', notScale);
      await expectKDSError(() => kds.train(LR, randomImage([1, 3, 16, 16])), 'E_SHAPE',
        /lr and hr batch sizes differ: \[2, 3, 8, 8\] vs \[1, 3, 16, 16\]/);
    });
  });

  it('NaN or Inf in the input, or a loss that overflows: E_NAN and the step is not applied', async () => {
    await expectNoHarm(edsrPair, async (kds) => {
      const nanLr = randomImage(LR.shape, 1);
      nanLr.data[17] = NaN;
      await expectKDSError(() => kds.train(nanLr, HR), 'E_NAN', /lr contains NaN or Inf/);
      const infHr = randomImage(HR.shape, 2);
      infHr.data[5] = Infinity;
      await expectKDSError(() => kds.train(LR, infHr), 'E_NAN', /hr contains NaN or Inf/);
      const huge = { data: new Float32Array(LR.data.length).fill(3e38), shape: LR.shape };
      await expectKDSError(() => kds.train(huge, HR), 'E_NAN', /loss is not finite.*the step was not applied/);
    });
  });

  it('teacher and student of different scales: E_SHAPE', async () => {
    await expectNoHarm(edsrPair, async (kds, { teacher, student }) => {
      const x3 = edsrPair(9, 3).teacher;
      await expectKDSError(() => kds.setTeacher(x3), 'E_SHAPE', /teacher scale x3 differs from student scale x2/);
      const fresh = new KDS().setTeacher(x3);
      await expectKDSError(() => fresh.setStudent(student), 'E_SHAPE', /student scale x2 differs from teacher scale x3/);
      await fresh.dispose();
      assert.equal(kds.teacher, teacher);
      // A TorchScript model's scale is known only once it ran: the step finds the mismatch.
      kds.setTeacher(await loadTorchScript(file('x3_teacher.pt')));
      await expectKDSError(() => kds.train(LR, HR), 'E_SHAPE',
        /teacher and student disagree: teacher output \[2, 3, 24, 24\], student output \[2, 3, 16, 16\]/);
      kds.setTeacher(teacher);
    });
  });

  it('teacher and student with different feature counts: E_SHAPE, until positions pick common ones', async () => {
    const make = async () => ({ teacher: edsrPair().teacher, student: await loadTorchScript(file('three_features.pt')) });
    await expectNoHarm(make, async (kds) => {
      await expectKDSError(() => kds.train(LR, HR), 'E_SHAPE',
        /the teacher returns 4 feature maps and the student 3; choose matching ones with setLoss\(\{ positions/);
      kds.setLoss({ positions: [0, 3] });
      await expectKDSError(() => kds.train(LR, HR), 'E_SHAPE', /feature position 3 does not exist/);
    }, { settle: (kds) => kds.setLoss({ positions: [0, 2] }) });
  });

  it('feature maps of different sizes: E_SHAPE', async () => {
    const make = async () => ({ teacher: edsrPair().teacher, student: await loadTorchScript(file('small_features.pt')) });
    await expectNoHarm(make, async (kds) => {
      await expectKDSError(() => kds.train(LR, HR), 'E_SHAPE',
        /SA needs student and teacher feature maps of the same height and width: at position 0 the student's is \[2, 8, 4, 4\] and the teacher's \[2, 8, 8, 8\]/);
    }, { settle: (kds) => kds.setLoss({ SA: false }) });
  });

  it('the SA loss with a student whose forward returns only a Tensor: E_SHAPE', async () => {
    const make = async () => ({ teacher: edsrPair().teacher, student: await loadTorchScript(file('output_only.pt')) });
    await expectNoHarm(make, async (kds) => {
      await expectKDSError(() => kds.train(LR, HR), 'E_SHAPE', /the student returns only its output.*setLoss\(\{ SA: false \}\)/);
    }, { settle: (kds) => kds.setLoss({ SA: false }) });
  });

  it('a TorchScript forward that returns a dict or a list: E_FILE when loading', async () => {
    const expected = /expected forward\(x\) to return Tensor or Tuple\[List\[Tensor\], Tensor\]/;
    const dict = await expectKDSError(() => loadTorchScript(file('dict_output.pt')), 'E_FILE', expected);
    assert.match(dict.message, /dict_output\.pt' returns Dict\(str, Tensor\)/);
    const list = await expectKDSError(() => loadTorchScript(file('list_output.pt')), 'E_FILE', expected);
    assert.match(list.message, /list_output\.pt' returns Tensor\[\]/);
  });

  it('a missing file: E_FILE', async () => {
    await expectNoHarm(edsrPair, async (kds, { student }) => {
      const missing = file('no-such-model.pt');
      await expectKDSError(() => loadTorchScript(missing), 'E_FILE', /no-such-model\.pt' cannot be read: No such file/);
      await expectKDSError(() => student.loadStateDict(missing), 'E_FILE', /no-such-model\.pt' cannot be read: No such file/);
      await expectKDSError(() => loadTorchScript(dir), 'E_FILE', /is not a regular file/);
      await expectKDSError(() => kds.saveStudentModel(path.join(dir, 'no-such-dir', 'x.pt')), 'E_FILE', /cannot write .*no-such-dir/);
    });
  });

  it('a corrupt file (random bytes, truncated, empty, the wrong kind): E_FILE', async () => {
    await expectNoHarm(edsrPair, async (kds, { student }) => {
      const notScript = /is not a TorchScript file written by torch\.jit\.save/;
      await expectKDSError(() => loadTorchScript(file('random_bytes.pt')), 'E_FILE', notScript);
      await expectKDSError(() => loadTorchScript(file('truncated_script.pt')), 'E_FILE', notScript);
      await expectKDSError(() => loadTorchScript(file('state_dict.pt')), 'E_FILE', notScript);
      await expectKDSError(() => loadTorchScript(file('empty.pt')), 'E_FILE', /empty\.pt' is empty/);
      const notStateDict = /is not a state dict saved by torch\.save/;
      await expectKDSError(() => student.loadStateDict(file('random_bytes.pt')), 'E_FILE', notStateDict);
      await expectKDSError(() => student.loadStateDict(file('truncated_state_dict.pt')), 'E_FILE', notStateDict);
      await expectKDSError(() => student.loadStateDict(file('cut_pickle.pt')), 'E_FILE', notStateDict);
      await expectKDSError(() => student.loadStateDict(file('empty.pt')), 'E_FILE', /is empty/);
      await expectKDSError(() => student.loadStateDict(file('student.pt')), 'E_FILE', /student\.pt' is a TorchScript module .*not a state dict: load it with loadTorchScript\(\)/);
      // A state dict of another architecture.
      await expectKDSError(() => student.loadStateDict(file('state_dict.pt')), 'E_FILE', /does not fit this model.*missing keys/s);
    });
  });

  it("an unknown or unavailable device: E_DEVICE, and the device stays 'cpu'", async () => {
    await expectNoHarm(edsrPair, async (kds) => {
      await expectKDSError(() => kds.setDevice('tpu'), 'E_DEVICE', /unknown device 'tpu': expected 'cpu', 'cuda' or 'cuda:N'/);
      await expectKDSError(() => kds.setDevice('cuda:x'), 'E_DEVICE', /unknown device 'cuda:x'/);
      await expectKDSError(() => kds.setDevice(''), 'E_DEVICE', /unknown device ''/);
      await expectKDSError(() => kds.setDevice(0), 'E_DEVICE', /device must be a string/);
      if (info().cudaAvailable) {
        await expectKDSError(() => kds.setDevice('cuda:99'), 'E_DEVICE', /only \d+ CUDA device\(s\) are visible/);
      } else {
        await expectKDSError(() => kds.setDevice('cuda'), 'E_DEVICE', /device 'cuda' requested, but CUDA is not available/);
        await expectKDSError(() => kds.setDevice('cuda:1'), 'E_DEVICE', /CUDA is not available/);
      }
      assert.equal(kds.device, 'cpu');
      assert.equal(kds.student.device, 'cpu');
    });
  });

  it('bad option values to setLoss, setOptimizer and models.edsr: E_ARG', async () => {
    await expectNoHarm(edsrPair, async (kds) => {
      const badLoss = [
        [{ SA: 'yes' }, /SA must be a boolean or an options object, got the string 'yes'/],
        [{ SA: { impl: 'fast' } }, /SA\.impl must be 'fused' or 'plain', got the string 'fast'/],
        [{ SA: { tile: -1 } }, /SA\.tile must be an integer >= 0/],
        [{ SA: { pool: 'median' } }, /SA\.pool must be 'none', 'max' or 'avg'/],
        [{ SA: { poolSize: 0 } }, /SA\.poolSize must be a positive integer/],
        [{ SA: { eps: -1 } }, /SA\.eps must be a finite number >= 0, got number -1/],
        [{ SA: { epsilon: 1 } }, /SA: unknown option 'epsilon'/],
        [{ weights: { DS: -1 } }, /weights\.DS must be a finite number >= 0, got number -1/],
        [{ weights: { TS: NaN } }, /weights\.TS must be a finite number >= 0/],
        [{ weights: { SA: '1' } }, /weights\.SA must be a finite number >= 0/],
        [{ weights: { KD: 1 } }, /weights: unknown option 'KD'/],
        [{ weights: 2 }, /weights must be an object/],
        [{ positions: [] }, /positions must be a non-empty array of integers >= 0/],
        [{ positions: [1.5] }, /positions must be a non-empty array of integers >= 0/],
        [{ positions: [-1] }, /positions must be a non-empty array/],
        [{ alpha: 0.5 }, /loss options: unknown option 'alpha'/],
        [null, /loss options must be an object, got null/],
      ];
      for (const [options, message] of badLoss) await expectKDSError(() => kds.setLoss(options), 'E_ARG', message);
      const badOptimizer = [
        [{ type: 'sgd' }, /optimizer type must be 'adam', got the string 'sgd'/],
        [{ lr: -1 }, /lr must be a finite number >= 0, got number -1/],
        [{ lr: '1e-3' }, /lr must be a finite number >= 0/],
        [{ eps: Infinity }, /eps must be a finite number >= 0/],
        [{ weightDecay: -0.1 }, /weightDecay must be a finite number >= 0/],
        [{ betas: [0.9] }, /betas must be two numbers in \[0, 1\)/],
        [{ betas: [1, 0.999] }, /betas must be two numbers in \[0, 1\)/],
        [5, /optimizer options must be an object, got number 5/],
        [{ learningRate: 1e-3 }, /optimizer options: unknown option 'learningRate': expected one of type, lr, betas, eps, weightDecay/],
      ];
      for (const [options, message] of badOptimizer) await expectKDSError(() => kds.setOptimizer(options), 'E_ARG', message);
      const badEdsr = [
        [{ scale: 5 }, /scale must be one of 2, 3, 4, 8, got number 5/],
        [{ scale: '2' }, /scale must be a positive integer/],
        [{ nResblocks: 0 }, /nResblocks must be a positive integer, got number 0/],
        [{ nFeats: 2.5 }, /nFeats must be a positive integer, got number 2.5/],
        [{ resScale: 0 }, /resScale must be a positive number, got number 0/],
        [{ rgbRange: -255 }, /rgbRange must be a positive number/],
        [{ nResBlocks: 4 }, /edsr: unknown option 'nResBlocks': expected one of scale, nResblocks, nFeats, resScale, rgbRange/],
        [null, /edsr: options must be an object, got null/],
      ];
      for (const [options, message] of badEdsr) await expectKDSError(() => models.edsr(options), 'E_ARG', message);
      await expectKDSError(() => kds.setTeacher({}), 'E_ARG', /teacher must be a kds Model/);
      await expectKDSError(() => kds.setStudent(kds.teacher), 'E_ARG', /the student must be a different model from the teacher/);
      await expectKDSError(() => setNumThreads(0), 'E_ARG', /numThreads must be a positive integer/);
    });
  });
});
