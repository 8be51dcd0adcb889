// The model zoo against PyTorch: EDSR, RCAN and SAN written in Python to the published state-dict layouts
// (fixtures/kds_reference/models.py) with random weights. kds loads every accepted layout and gives the same outputs
// and feature taps; students kds trains load back into the Python models (strict) with the same output;
// summary() counts match hand-computed ones and the published RCAN sizes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRequire } from 'node:module';
import { KDS, KDSError, loadTorchScript, manualSeed, models } from '../dist/index.js';
import { fixturePath, makeTempDir, readTensor, removeDir, runPython, writeTensor } from './helpers/python.mjs';

const require = createRequire(import.meta.url);

// "Relative error under 1e-5": max |kds - PyTorch| / max |PyTorch|, per output and per feature map.
const RTOL = 1e-5;
const SCALES = [2, 3, 4, 8];
const INPUT_SHAPE = [2, 3, 11, 9]; // odd height and width; 11 x 9 also splits SAN's non-local into unequal quadrants
// Small models (the counting tests build the full-size ones without running them). EDSR x4 uses resScale 0.1.
const SMALL = {
  edsr: (scale) => ({ scale, nResblocks: 4, nFeats: 16, resScale: scale === 4 ? 0.1 : 1 }),
  rcan: (scale) => ({ scale, nResgroups: 3, nResblocks: 2, nFeats: 32, reduction: 16 }),
  san: (scale) => ({ scale, nResgroups: 3, nResblocks: 2, nFeats: 32, reduction: 16 }),
};
const ARCHS = Object.keys(SMALL);
// The layouts each architecture's files come in besides the official one (see zoo_make.py's layouts()).
// legacy: torch.save's pre-1.6 format, that of the EDSR, RCAN and SAN releases; wrapped: a training checkpoint
// ({ epoch, args: argparse.Namespace, optimizer: Adam's state, state_dict }); strided: all tensors windows
// into one storage with channels-last strides; nomean: without the mean-shift keys; float64: double tensors.
const LAYOUTS = {
  edsr: ['legacy', 'fakd', 'dataparallel', 'wrapped', 'nomean', 'strided', 'strided_legacy', 'float64'],
  rcan: ['legacy', 'fakd', 'dataparallel', 'wrapped'],
  san: ['legacy', 'dataparallel', 'wrapped'],
};
const LAYOUT_SCALE = 3;

async function runZooMake(mode, job, dir) {
  const jobPath = path.join(dir, `${mode}-job.json`);
  fs.writeFileSync(jobPath, JSON.stringify(job));
  return JSON.parse(await runPython([fixturePath('zoo_make.py'), mode, jobPath]));
}

function relativeError(actual, expected) {
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    ref = Math.max(ref, Math.abs(expected[i]));
  }
  return diff / ref;
}

function assertClose(tensor, expected, label) {
  assert.deepEqual(tensor.shape, expected.shape, `${label}: shape`);
  const err = relativeError(tensor.toFloat32Array(), expected.data);
  assert.ok(err < RTOL, `${label}: relative error ${err} >= ${RTOL}`);
}

async function expectError(promiseOrFn, code, patterns) {
  let error;
  try {
    await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof KDSError, `expected a KDSError ${code}, got ${error}`);
  assert.equal(error.code, code, error.message);
  for (const p of patterns) assert.match(error.message, p);
  return error;
}

// The Python reference needs the feature taps spelled out; kds's defaults are checked separately below.
function pythonConfig(model) {
  const { architecture, ...config } = model.spec;
  return { arch: architecture, config };
}

describe('model zoo: EDSR, RCAN and SAN against PyTorch', () => {
  let dir;
  let ref; // manifest of the Python-made files
  let input;

  before(async () => {
    dir = makeTempDir('zoo');
    const job = {
      out: dir,
      input: { shape: INPUT_SHAPE, seed: 7 },
      models: [],
      counts: [
        { name: 'rcan_teacher', ...pythonConfig(models.rcan({ scale: 4 })) },
        { name: 'rcan_student', ...pythonConfig(models.studentOf(models.rcan({ scale: 4 }))) },
        { name: 'san_teacher', ...pythonConfig(models.san({ scale: 4 })) },
      ],
      wholeModels: [{ name: 'edsr', ...pythonConfig(models.edsr(SMALL.edsr(2))) }],
      torchscript: [
        { name: 'edsr', ...pythonConfig(models.edsr(SMALL.edsr(4))) },
        { name: 'rcan', ...pythonConfig(models.rcan(SMALL.rcan(3))) },
      ],
    };
    let seed = 100;
    for (const arch of ARCHS)
      for (const scale of SCALES) job.models.push({ name: `${arch}_x${scale}`, seed: seed++, ...pythonConfig(models[arch](SMALL[arch](scale))) });
    ref = await runZooMake('make', job, dir);
    input = readTensor(dir, ref.input);
  });
  after(() => removeDir(dir));

  for (const arch of ARCHS) {
    for (const scale of SCALES) {
      it(`${arch} x${scale}: a PyTorch state dict loads and gives PyTorch's output and feature taps`, async () => {
        const expected = ref.models[`${arch}_x${scale}`];
        const model = models[arch](SMALL[arch](scale));
        await model.loadStateDict(expected.files.official);
        const { features, output } = await model.forward(input);
        assertClose(output, readTensor(dir, expected.output), `${arch} x${scale} output`);
        assert.equal(features.length, 4, 'FAKD taps four feature maps');
        features.forEach((f, i) => assertClose(f, readTensor(dir, expected.features[i]), `${arch} x${scale} feature ${i}`));
      });
    }

    for (const layout of LAYOUTS[arch]) {
      it(`${arch}: the ${layout} layout loads to the same model`, async () => {
        const expected = ref.models[`${arch}_x${LAYOUT_SCALE}`];
        const model = models[arch](SMALL[arch](LAYOUT_SCALE));
        await model.loadStateDict(expected.files[layout]);
        assertClose((await model.forward(input)).output, readTensor(dir, expected.output), `${arch} ${layout}`);
      });
    }
  }

  it('rcan: mean-shift values come from the file when present (they differ from the DIV2K constants here)', async () => {
    const expected = ref.models[`rcan_x${LAYOUT_SCALE}`];
    const withoutMeans = models.rcan(SMALL.rcan(LAYOUT_SCALE));
    await withoutMeans.loadStateDict(expected.files.nomean); // optional keys: loads, keeping the constants
    const err = relativeError((await withoutMeans.forward(input)).output.toFloat32Array(), readTensor(dir, expected.output).data);
    assert.ok(err > 1e-3, `with the constants instead of the file's mean shifts the output should differ; relative error ${err}`);
  });

  it('a file saved for another scale fails with E_FILE naming the upsampler keys and the file\'s scale', async () => {
    // x4 and x2 share tail.0.0's shape: only the extra conv tells them apart, so even strict: false refuses.
    for (const strict of [true, false]) {
      const model = models.rcan(SMALL.rcan(2));
      await expectError(model.loadStateDict(ref.models.rcan_x4.files.official, { strict }), 'E_FILE',
        [/saved for scale x4/, /this rcan model is x2/, /tail\.0\.2\.weight \(file \[128, 32, 3, 3\], not in this model\)/]);
    }
    const edsr = models.edsr(SMALL.edsr(2));
    await expectError(edsr.loadStateDict(ref.models.edsr_x3.files.official), 'E_FILE',
      [/saved for scale x3/, /tail\.0\.0\.weight \(file \[144, 16, 3, 3\], model \[64, 16, 3, 3\]\)/]);
    const san = models.san(SMALL.san(8));
    await expectError(san.loadStateDict(ref.models.san_x2.files.official), 'E_FILE',
      [/saved for scale x2/, /tail\.0\.2\.weight \(model \[128, 32, 3, 3\], missing from the file\)/, /tail\.0\.4\.weight/]);
  });

  it('a pickled whole model (not its state dict) fails with E_FILE saying what to save instead', async () => {
    await expectError(models.edsr(SMALL.edsr(2)).loadStateDict(ref.wholeModels.edsr), 'E_FILE',
      [/holds an object of class kds_reference\.models\.EDSR, not a state dict; in Python, save model\.state_dict\(\) instead/]);
  });

  it('a file of another depth fails listing every mismatch, and loads nothing', async () => {
    const model = models.rcan({ ...SMALL.rcan(2), nResgroups: 2 });
    const before = (await model.forward(input)).output.toFloat32Array();
    // FAKD layout of a 3-group model: body_group2.* has no place here, body_tail.* maps to body.2.*.
    const error = await expectError(model.loadStateDict(ref.models.rcan_x2.files.fakd), 'E_FILE', [/unexpected keys \(\d+\): body_group2\./]);
    assert.doesNotMatch(error.message, /missing keys/);
    const afterError = (await model.forward(input)).output.toFloat32Array();
    assert.deepEqual(afterError, before, 'a failed load changed the weights');
    // A deeper EDSR file in FAKD's layout: body3's extra blocks stay unexpected, and shapes are checked.
    const edsr = models.edsr({ ...SMALL.edsr(2), nResblocks: 3 });
    await expectError(edsr.loadStateDict(ref.models.edsr_x2.files.fakd), 'E_FILE', [/unexpected keys/, /body3\.2\./]);
  });

  it('students of all three architectures train with SA on positions [1,2,3] and load back into PyTorch', async () => {
    manualSeed(3);
    const students = {
      edsr: { nResblocks: 3, nFeats: 8 },
      rcan: { nResblocks: 1, nFeats: 16 },
      san: { nResgroups: 2, nFeats: 16 },
    };
    const hr = { data: new Float32Array(2 * 3 * 22 * 18).map((_, i) => (i * 37) % 256), shape: [2, 3, 22, 18] };
    const verify = [];
    for (const arch of ARCHS) {
      const teacher = models[arch](SMALL[arch](2));
      await teacher.loadStateDict(ref.models[`${arch}_x2`].files.official);
      const student = models.studentOf(teacher, students[arch]);
      assert.equal(student.kind, arch);
      assert.equal(student.scale, 2);
      const untrained = (await student.forward(input)).output.toFloat32Array();
      const kds = new KDS().setTeacher(teacher).setStudent(student).setLoss({ positions: [1, 2, 3] }).setOptimizer({ lr: 1e-3 });
      const losses = await kds.train(input, hr);
      assert.ok(Number.isFinite(losses.total) && losses.SA > 0 && losses.TS > 0, `${arch}: losses ${JSON.stringify(losses)}`);
      await kds.dispose();
      const trained = await student.forward(input);
      assert.ok(relativeError(trained.output.toFloat32Array(), untrained) > 1e-6, `${arch}: the step did not change the student`);
      const stateDict = path.join(dir, `${arch}_student.pth`);
      await student.saveStateDict(stateDict);
      // kds reads its own file back too.
      const { architecture, ...options } = student.spec;
      const reloaded = models[architecture](options);
      await reloaded.loadStateDict(stateDict);
      assert.deepEqual((await reloaded.forward(input)).output.toFloat32Array(), trained.output.toFloat32Array());
      const output = writeTensor(dir, `${arch}_student.out`, { data: trained.output.toFloat32Array(), shape: trained.output.shape });
      verify.push({ name: arch, ...pythonConfig(student), stateDict, input: ref.input, output });
    }
    const errors = await runZooMake('verify', { out: dir, models: verify }, dir);
    for (const arch of ARCHS) assert.ok(errors[arch] < RTOL, `${arch} student in PyTorch: relative error ${errors[arch]}`);
  });

  it('RCAN teacher and student have the published sizes: 15.59M and 5.17M parameters at x4', async () => {
    const teacher = models.rcan({ scale: 4 });
    const student = models.studentOf(teacher);
    assert.deepEqual({ ...student.spec }, { ...teacher.spec, nResblocks: 6 });
    assert.equal(teacher.parameterCount, ref.counts.rcan_teacher.trainable);
    assert.equal(student.parameterCount, ref.counts.rcan_student.trainable);
    assert.equal((teacher.parameterCount / 1e6).toFixed(2), '15.59');
    assert.equal((student.parameterCount / 1e6).toFixed(2), '5.17');
    const s = await teacher.summary({ height: 48, width: 48 });
    assert.equal(s.frozenParameters, ref.counts.rcan_teacher.frozen);
    assert.equal(models.san({ scale: 4 }).parameterCount, ref.counts.san_teacher.trainable);
  });

  it('summary(): multiply-adds by hand for EDSR, RCAN and SAN', async () => {
    const conv = (cin, cout, k = 3) => cin * cout * k * k;
    // sub_mean, the head and n 3x3 f -> f convs, all at the LR size.
    const lrConvs = (f, n, px) => (conv(3, 3, 1) + conv(3, f) + n * conv(f, f)) * px;
    // Upsampler convs run at the resolution reached so far; then the last conv and add_mean at the HR size.
    const tail = (f, s, px) => {
      let macs = 0;
      for (const factor of s === 3 ? [3] : Array(Math.log2(s)).fill(2)) {
        macs += conv(f, factor * factor * f) * px;
        px *= factor * factor;
      }
      return macs + (conv(f, 3) + conv(3, 3, 1)) * px;
    };
    const [h, w] = [11, 9];

    const e = SMALL.edsr(4);
    const f = e.nFeats;
    const edsr = await models.edsr(e).summary({ height: h, width: w });
    assert.equal(edsr.multiplyAdds, lrConvs(f, 2 * e.nResblocks + 1, h * w) + tail(f, 4, h * w));
    assert.deepEqual(edsr.outputShape, [3, 4 * h, 4 * w]);
    assert.deepEqual(edsr.featureShapes, Array(4).fill([f, h, w]));
    assert.equal(edsr.parameters, conv(3, f) + f + (2 * e.nResblocks + 1) * (conv(f, f) + f) + 2 * (conv(f, 4 * f) + 4 * f) + conv(f, 3) + 3);
    assert.equal(edsr.frozenParameters, 24); // the two mean shifts

    // RCAN: per group 2 convs per RCAB and the group conv at h x w, plus each RCAB's channel attention on the
    // pooled 1 x 1 map; then the body's tail conv.
    const rcanMacs = ({ nResgroups: g, nResblocks: b, nFeats: c, reduction: r, scale }, px) =>
      lrConvs(c, g * (2 * b + 1) + 1, px) + g * b * (conv(c, c / r, 1) + conv(c / r, c, 1)) + tail(c, scale, px);
    const r = SMALL.rcan(8);
    assert.equal((await models.rcan(r).summary({ height: h, width: w })).multiplyAdds, rcanMacs(r, h * w));
    const teacher = models.rcan({ scale: 4 });
    const student = models.studentOf(teacher);
    assert.equal((await teacher.summary({ height: 48, width: 48 })).multiplyAdds, rcanMacs(teacher.spec, 48 * 48));
    assert.equal((await student.summary({ height: 48, width: 48 })).multiplyAdds, rcanMacs(student.spec, 48 * 48));
    // The published 36.80 / 12.93 GFLOPs (FAKD, at 48 x 48) also count, as ptflops does, one add per conv
    // output element for the bias, the ReLU outputs and the average-pooling inputs.
    const published = async (model) => {
      const { nResgroups: g, nResblocks: b, nFeats: c, reduction: rr } = model.spec;
      const px = 48 * 48;
      const biases = (3 + c + (g * (2 * b + 1) + 1) * c) * px + g * b * (c / rr + c) + 4 * c * px * (1 + 4) + 6 * px * 16;
      const reluAndPool = g * b * (2 * c * px + c / rr);
      return ((await model.summary({ height: 48, width: 48 })).multiplyAdds + biases + reluAndPool) / 1e9;
    };
    assert.equal((await published(teacher)).toFixed(2), '36.80');
    assert.equal((await published(student)).toFixed(2), '12.93');

    // SAN: per group 2 convs per block and conv_last at h x w, and SOCA: the covariance (C*C*hw), the 12
    // C x C products of 5 Newton-Schulz steps, conv_du; the region non-local twice: per quadrant four 1x1
    // convs per pixel and two N x N x inner products. 11 x 9 splits into 5x4, 5x5, 6x4 and 6x5 quadrants.
    const sc = SMALL.san(2);
    const [C, inner] = [sc.nFeats, sc.nFeats / 8];
    const soca = C * C * h * w + 12 * C ** 3 + conv(C, C / sc.reduction, 1) + conv(C / sc.reduction, C, 1);
    const nonLocal = [20, 25, 24, 30].reduce((sum, n) => sum + 4 * C * inner * n + 2 * n * n * inner, 0);
    const sanMacs = lrConvs(C, sc.nResgroups * (2 * sc.nResblocks + 1), h * w) + sc.nResgroups * soca + 2 * nonLocal + tail(C, 2, h * w);
    assert.equal((await models.san(sc).summary({ height: h, width: w })).multiplyAdds, sanMacs);
  });

  it('summary() of a TorchScript model counts the multiply-adds of a traced run: the same as the built-in models', async () => {
    for (const [arch, options] of [['edsr', SMALL.edsr(4)], ['rcan', SMALL.rcan(3)]]) {
      const scripted = await loadTorchScript(ref.torchscript[arch]);
      const traced = await scripted.summary({ height: 11, width: 9 });
      const analytic = await models[arch](options).summary({ height: 11, width: 9 });
      assert.equal(traced.multiplyAdds, analytic.multiplyAdds, arch);
      assert.deepEqual(traced.outputShape, analytic.outputShape);
      assert.deepEqual(traced.featureShapes, analytic.featureShapes);
      assert.equal(traced.parameters, analytic.parameters);
    }
  });
});

describe('model specs, FAKD feature taps and studentOf', () => {
  it('FAKD\'s taps by default: RCAN after groups 3 and 7 of 10, SAN after 7 and 14 of 20 (2 and 4 of 6)', () => {
    assert.deepEqual(models.rcan().spec.featureGroups, [3, 7]);
    assert.deepEqual(models.san({ nResgroups: 6, nResblocks: 1, nFeats: 16 }).spec.featureGroups, [2, 4]);
    const san = models.san({ scale: 4 });
    assert.deepEqual(san.spec.featureGroups, [7, 14]);
    const student = models.studentOf(san);
    assert.deepEqual([student.spec.nResgroups, student.spec.nResblocks, student.spec.scale], [6, 10, 4]);
    assert.deepEqual(student.spec.featureGroups, [2, 4]);
    assert.deepEqual(models.rcan({ nResgroups: 1, nResblocks: 1, nFeats: 16 }).spec.featureGroups, [1, 1]);
  });

  it('studentOf: FAKD\'s EDSR student by default, overrides, and the teacher\'s scale', () => {
    const teacher = models.edsr({ scale: 3, nResblocks: 32, nFeats: 256, resScale: 0.1 });
    const student = models.studentOf(teacher.spec);
    assert.deepEqual({ ...student.spec }, { architecture: 'edsr', scale: 3, nResblocks: 16, nFeats: 64, resScale: 1, rgbRange: 255 });
    assert.equal(models.studentOf(teacher, { nResblocks: 8, nFeats: 32 }).spec.nFeats, 32);
  });

  it('rejects students larger than the teacher, foreign options and TorchScript teachers', async () => {
    const teacher = models.rcan({ nResgroups: 2, nResblocks: 2, nFeats: 32 });
    await expectError(() => models.studentOf(teacher, { nFeats: 64 }), 'E_ARG', [/nFeats 64 exceeds the teacher's 32/]);
    await expectError(() => models.studentOf(teacher, { scale: 4 }), 'E_ARG', [/'scale' does not apply/]);
    await expectError(() => models.studentOf(teacher, { nonLocalChannels: 4 }), 'E_ARG', [/'nonLocalChannels' does not apply to a rcan student/]);
    await expectError(() => models.studentOf({}), 'E_ARG', [/studentOf needs a teacher built by models/]);
  });

  it('the addon builds only complete specs of kinds in its table (TypeScript owns the defaults)', async () => {
    const { native } = require('../dist/native.js');
    const { architecture, ...edsr } = models.edsr({ nResblocks: 1, nFeats: 8 }).spec;
    assert.equal(native().createModel(architecture, edsr).kind, 'edsr');
    const { architecture: rcanKind, featureGroups, ...rcanWithoutTaps } = models.rcan({ nResgroups: 2, nResblocks: 1, nFeats: 16 }).spec;
    assert.deepEqual([rcanKind, featureGroups], ['rcan', [1, 1]]);
    const { scale, ...edsrWithoutScale } = edsr;
    assert.equal(scale, 2);
    const cases = [
      [() => native().createModel('resnet', edsr), /unknown model kind 'resnet': expected one of edsr, rcan, san/],
      [() => native().createModel('edsr', edsrWithoutScale), /edsr: the spec lacks 'scale'/],
      [() => native().createModel('rcan', rcanWithoutTaps), /rcan: the spec lacks 'featureGroups'/],
      [() => native().createModel('edsr', { ...edsr, nResgroups: 2 }), /edsr: unknown option 'nResgroups'/],
      [() => native().createModel('edsr', { ...edsr, nFeats: 0 }), /edsr: nFeats must be an integer >= 1/],
    ];
    for (const [create, message] of cases) assert.throws(create, (e) => e.code === 'E_ARG' && message.test(e.message));
  });

  it('validates options with E_ARG', async () => {
    await expectError(() => models.rcan({ scale: 5 }), 'E_ARG', [/rcan: scale must be one of 2, 3, 4, 8/]);
    await expectError(() => models.rcan({ nFeats: 8, reduction: 16 }), 'E_ARG', [/rcan: reduction must be at most nFeats \(8\), got number 16/]);
    await expectError(() => models.rcan({ nResgroups: 4, featureGroups: [3, 5] }), 'E_ARG', [/featureGroups\[1\] must be an integer between 1 and nResgroups \(4\)/]);
    await expectError(() => models.rcan({ featureGroups: [5, 2] }), 'E_ARG', [/increasing order/]);
    await expectError(() => models.san({ nFeats: 4 }), 'E_ARG', [/san: nFeats must be at least 8/]);
    await expectError(() => models.san({ nResgroups: 0 }), 'E_ARG', [/san: nResgroups must be a positive integer/]);
    await expectError(() => models.edsr({ nFeats: 1 }).summary({ height: 0, width: 3 }), 'E_ARG', [/height must be a positive integer/]);
  });
});
