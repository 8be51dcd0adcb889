// Mixed precision (setPrecision), channels-last (setMemoryFormat) and cuDNN autotuning settings, on the
// CPU: LibTorch's CPU autocast runs the same code path as CUDA's. The references are the same steps in
// PyTorch (fixtures/make_precision_case.py): torch.autocast("cpu") with the loss in float32, and
// torch.amp.GradScaler for fp16.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KDS, info, loadTorchScript, models, readLog, seededBlocks, setCudnnBenchmark, setNumThreads } from '../dist/index.js';
import { assertClose, expectKDSError, maxAbsDiff } from './helpers/assertions.mjs';
import { makeTempDir, readTensor, removeDir, runFixture, runPythonSync } from './helpers/python.mjs';

// One thread on both sides, so both use the same kernels in the same order (see fixture_io.setup).
setNumThreads(1);

const STEPS = 6;
// fp16 scaler options chosen so that the run shows every rule: 2^40 overflows (skip, scale / 1024),
// 2^30 and 2^20 too, 2^10 trains, and after two good steps in a row the scale doubles.
const SCALER = { initScale: 2 ** 40, backoffFactor: 2 ** -10, growthInterval: 2 };
const SCALER_PY = { init_scale: 2 ** 40, backoff_factor: 2 ** -10, growth_interval: 2 };

// Measured on the 2-core Xeon (AVX-512, one thread): kds and PyTorch losses agree within 2.4e-7 relative
// in fp32, 9.4e-8 in bf16 (also channels-last), 1.9e-7 in fp16; the trained students' outputs within
// 1.6e-7 of their largest value. bf16 differs from fp32 by up to 6.4e-4 relative over these six steps.
const LOSS_RTOL = 1e-5;
const BF16_VS_FP32_RTOL = 1e-2; // the state tolerance: bf16 keeps 8 bits of mantissa
const LAYOUT_RTOL = 1e-5;

// What setTeacherPrecision('bf16') needs on a CPU (lib/kds.ts); the flags as Linux names them.
const cpuFlags = new Set((/^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').trim().split(/\s+/));
const CPU_BF16 = cpuFlags.has('avx512_bf16') || cpuFlags.has('amx_bf16');
const CPU_FP16 = cpuFlags.has('avx512_fp16') || cpuFlags.has('amx_fp16');

describe('mixed precision and channels-last on the CPU match PyTorch', () => {
  let dir;
  let fixture;
  const runs = {};

  before(async () => {
    dir = makeTempDir('precision');
    fixture = await runFixture('make_precision_case.py', dir, { steps: STEPS, fp16: { scaler: SCALER_PY } });
  });
  after(() => removeDir(dir));

  async function train(name, configure) {
    const kds = new KDS();
    kds.setTeacher(await loadTorchScript(path.join(dir, 'teacher.pt')));
    const student = await loadTorchScript(path.join(dir, 'student.pt'));
    kds.setStudent(student);
    configure(kds);
    const losses = [];
    const stepCounts = [];
    for (const batch of fixture.batches) {
      losses.push(await kds.train(readTensor(dir, batch.lr), readTensor(dir, batch.hr)));
      stepCounts.push(kds.stepCount);
    }
    runs[name] = { kds, student, losses, stepCounts };
    return runs[name];
  }

  function worstRelative(actual, expected) {
    let worst = 0;
    expected.forEach((ref, step) => {
      for (const part of ['total', 'DS', 'TS', 'SA'])
        worst = Math.max(worst, Math.abs(actual[step][part] - ref[part]) / Math.abs(ref[part]));
    });
    return worst;
  }

  function assertLosses(t, name, actual, expected, rtol) {
    assert.equal(actual.length, expected.length);
    t.diagnostic(`${name}: largest relative loss difference ${worstRelative(actual, expected).toExponential(2)}`);
    expected.forEach((ref, step) => {
      for (const part of ['total', 'DS', 'TS', 'SA'])
        assertClose(actual[step][part], ref[part], { rtol, atol: 0 }, `${name} step ${step} ${part}`);
    });
  }

  // The trained student's output on the first batch against the PyTorch-trained reference weights.
  async function assertWeightsMatch(t, name, student, rtol) {
    const reference = await loadTorchScript(path.join(dir, 'student.pt'));
    await reference.loadStateDict(path.join(dir, `${name}_reference.pt`));
    const input = readTensor(dir, fixture.batches[0].lr);
    const ours = (await student.forward(input)).output.toFloat32Array();
    const theirs = (await reference.forward(input)).output.toFloat32Array();
    const { diff, ref } = maxAbsDiff(ours, theirs);
    t.diagnostic(`${name}: trained student's output within ${(diff / ref).toExponential(2)} of its largest value`);
    assert.ok(diff <= rtol * ref, `${name}: outputs differ by ${diff} (largest ${ref})`);
  }

  it('fp32 (the default) matches PyTorch', async (t) => {
    const r = await train('fp32', () => {});
    assert.equal(r.kds.precision, 'fp32');
    assertLosses(t, 'fp32', r.losses, fixture.runs.fp32.losses, LOSS_RTOL);
    assert.ok(r.losses.every((l) => l.skipped === false && l.lossScale === 1));
  });

  it("bf16: autocast forwards with float32 losses match torch.autocast('cpu', bfloat16) and stay close to fp32", async (t) => {
    const r = await train('bf16', (kds) => kds.setPrecision('bf16'));
    assert.equal(r.kds.precision, 'bf16');
    assertLosses(t, 'bf16 vs PyTorch bf16', r.losses, fixture.runs.bf16.losses, LOSS_RTOL);
    await assertWeightsMatch(t, 'bf16', r.student, 1e-4);
    const vsFp32 = worstRelative(r.losses, fixture.runs.fp32.losses);
    t.diagnostic(`bf16 vs fp32: largest relative loss difference ${vsFp32.toExponential(2)}`);
    assert.ok(vsFp32 > 0, 'bf16 gave exactly the fp32 losses: autocast did not run');
    assert.ok(vsFp32 < BF16_VS_FP32_RTOL, `bf16 strays from fp32 by ${vsFp32}`);
    assert.deepEqual(r.stepCounts, [1, 2, 3, 4, 5, 6]);
  });

  it("setTeacherPrecision('fp32') under a bf16 step: an fp32 teacher and a bf16 student, as PyTorch with two autocast scopes", async (t) => {
    const r = await train('bf16_teacher_fp32', (kds) => kds.setPrecision('bf16').setTeacherPrecision('fp32'));
    assert.equal(r.kds.teacherPrecision, 'fp32');
    assertLosses(t, 'bf16 student, fp32 teacher vs PyTorch', r.losses, fixture.runs.bf16_teacher_fp32.losses, LOSS_RTOL);
    await assertWeightsMatch(t, 'bf16_teacher_fp32', r.student, 1e-4);
    // The teacher's precision reached the step: the TS term differs from the all-bf16 run's.
    const tsDiff = Math.max(...r.losses.map((l, i) => Math.abs(l.TS - fixture.runs.bf16.losses[i].TS)));
    assert.ok(tsDiff > 0, 'the TS loss equals the all-bf16 one: the teacher still ran in bf16');
  });

  it(`setTeacherPrecision('bf16') with an fp32 student: ${CPU_BF16 ? 'matches PyTorch' : 'E_DEVICE on this CPU (no AVX512-BF16/AMX-BF16), nothing changed'}`, async (t) => {
    if (CPU_BF16) {
      const r = await train('fp32_teacher_bf16', (kds) => kds.setTeacherPrecision('bf16'));
      assertLosses(t, 'bf16 teacher, fp32 student vs PyTorch', r.losses, fixture.runs.fp32_teacher_bf16.losses, LOSS_RTOL);
      await assertWeightsMatch(t, 'fp32_teacher_bf16', r.student, 1e-4);
      return;
    }
    const kds = new KDS();
    await expectKDSError(() => kds.setTeacherPrecision('bf16'), 'E_DEVICE', /a 'bf16' teacher on cpu needs a CPU with AVX512-BF16 or AMX-BF16 instructions/);
    await expectKDSError(() => kds.setTeacherPrecision('fp16'), 'E_DEVICE', /a 'fp16' teacher on cpu needs a CPU with AVX512-FP16 or AMX-FP16/);
    assert.equal(kds.teacherPrecision, 'step');
    // The session still trains, at the step's precision, exactly as before the refused call.
    const r = await train('after_refused_teacher_bf16', (k) => assert.throws(() => k.setTeacherPrecision('bf16'), { code: 'E_DEVICE' }));
    assertLosses(t, 'after a refused bf16 teacher vs PyTorch fp32', r.losses, fixture.runs.fp32.losses, LOSS_RTOL);
    await kds.dispose();
  });

  it('fp16: dynamic loss scaling skips overflowing steps, backs off and grows as torch.amp.GradScaler', async (t) => {
    const r = await train('fp16', (kds) => kds.setPrecision('fp16', SCALER));
    const expected = fixture.runs.fp16.losses;
    assert.deepEqual(r.losses.map((l) => l.lossScale), expected.map((l) => l.lossScale));
    assert.deepEqual(r.losses.map((l) => l.skipped), expected.map((l) => l.skipped));
    assert.ok(expected.some((l) => l.skipped) && expected.some((l) => !l.skipped), 'the reference run should both skip and train');
    assert.ok(new Set(expected.map((l) => l.lossScale)).size >= 4, 'the scale should back off and grow');
    // A skipped step does not count (stepCount stays) and is not an error.
    let applied = 0;
    r.losses.forEach((l, i) => {
      if (!l.skipped) applied++;
      assert.equal(r.stepCounts[i], applied, `stepCount after step ${i}`);
    });
    assertLosses(t, 'fp16 vs PyTorch fp16', r.losses, expected, LOSS_RTOL);
    await assertWeightsMatch(t, 'fp16', r.student, 1e-4);
  });

  it('fp16: a skipped step leaves the weights exactly as they were', async () => {
    const kds = new KDS();
    kds.setTeacher(await loadTorchScript(path.join(dir, 'teacher.pt')));
    const student = await loadTorchScript(path.join(dir, 'student.pt'));
    kds.setStudent(student).setPrecision('fp16', { initScale: 2 ** 60 });
    const input = readTensor(dir, fixture.batches[0].lr);
    const before = (await student.forward(input)).output.toFloat32Array();
    const r = await kds.train(input, readTensor(dir, fixture.batches[0].hr));
    assert.equal(r.skipped, true);
    assert.equal(r.lossScale, 2 ** 60);
    assert.ok(Number.isFinite(r.total));
    const afterStep = (await student.forward(input)).output.toFloat32Array();
    assert.deepEqual(afterStep, before);
    assert.equal(kds.stepCount, 0);
    await kds.dispose();
  });

  it('channels_last: the same losses and weights as the default layout (fp32 within 1e-5), and bf16 as PyTorch with channels_last', async (t) => {
    const r = await train('fp32_cl', (kds) => kds.setMemoryFormat('channels_last'));
    assert.equal(r.kds.memoryFormat, 'channels_last');
    assertLosses(t, 'channels_last vs default', r.losses, runs.fp32.losses, LAYOUT_RTOL);
    await assertWeightsMatch(t, 'fp32', r.student, LAYOUT_RTOL);
    const bf16 = await train('bf16_cl', (kds) => kds.setMemoryFormat('channels_last').setPrecision('bf16'));
    assertLosses(t, 'bf16 channels_last vs PyTorch', bf16.losses, fixture.runs.bf16_cl.losses, LOSS_RTOL);
    // The conversion happened: the saved TorchScript student's convolution weights have NHWC strides.
    const saved = path.join(dir, 'student-cl.pt');
    await r.kds.saveStudentModel(saved);
    const script = 'import sys, torch\nm = torch.jit.load(sys.argv[1])\nw = [p for n, p in m.named_parameters() if p.dim() == 4]\n' +
      'print(sum(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous() for p in w), len(w))';
    const [channelsLast, convs] = runPythonSync(['-c', script, saved]).trim().split(' ').map(Number);
    assert.ok(convs > 0 && channelsLast === convs, `${channelsLast} of ${convs} convolution weights are channels-last`);
    // Back to the default layout: the models keep working and give the same outputs.
    const input = readTensor(dir, fixture.batches[0].lr);
    const before = (await r.student.forward(input)).output.toFloat32Array();
    r.kds.setMemoryFormat('contiguous');
    const { diff, ref } = maxAbsDiff((await r.student.forward(input)).output.toFloat32Array(), before);
    assert.ok(diff <= 1e-5 * ref, `layout change moved outputs by ${diff}`);
  });

  it("fp16 checkpoints keep the loss scale; Python's torch.load reads it", async () => {
    const first = runs.fp16;
    const file = path.join(dir, 'fp16.ckpt');
    await first.kds.saveCheckpoint(file, { note: 'fp16' });
    const script = 'import sys, torch\nc = torch.load(sys.argv[1])\ng = c["grad_scaler"]\nprint(g["scale"].item(), g["growth_tracker"].item())';
    const [scale, tracker] = runPythonSync(['-c', script, file]).trim().split(' ').map(Number);
    // The scale after the last step: the reference's last scale, doubled or halved by its update.
    const last = fixture.runs.fp16.losses.at(-1);
    assert.ok(scale > 0 && Number.isInteger(tracker) && tracker >= 0 && tracker < SCALER.growthInterval);
    assert.ok(scale === last.lossScale || scale === last.lossScale * 2 || scale === last.lossScale * SCALER.backoffFactor, `scale ${scale}`);

    const kds = new KDS();
    kds.setTeacher(await loadTorchScript(path.join(dir, 'teacher.pt')));
    kds.setStudent(await loadTorchScript(path.join(dir, 'student.pt'))).setPrecision('fp16', SCALER);
    assert.deepEqual(await kds.loadCheckpoint(file), { note: 'fp16' });
    const batch = fixture.batches[0];
    const resumed = await kds.train(readTensor(dir, batch.lr), readTensor(dir, batch.hr));
    assert.equal(resumed.lossScale, scale);
    await kds.dispose();
  });

  after(async () => {
    for (const r of Object.values(runs)) await r.kds.dispose();
  });
});

it('fit() logs fp16 steps skipped by loss scaling and carries on', async () => {
  const dir = makeTempDir('precision-fit');
  try {
    const kds = new KDS()
      .setTeacher(models.edsr({ scale: 2, nResblocks: 2, nFeats: 8 }))
      .setStudent(models.edsr({ scale: 2, nResblocks: 1, nFeats: 4 }))
      .setPrecision('fp16', { initScale: 2 ** 60, backoffFactor: 2 ** -50 });
    const stream = () => {
      let s = 1;
      const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 255;
      return { async next() {
        const lr = { data: Float32Array.from({ length: 2 * 3 * 8 * 8 }, rand), shape: [2, 3, 8, 8] };
        const hr = { data: Float32Array.from({ length: 2 * 3 * 16 * 16 }, rand), shape: [2, 3, 16, 16] };
        return { done: false, value: { lr, hr } };
      } };
    };
    const seen = [];
    await kds.fit({ train: seededBlocks(stream, 1, 10), steps: 3, outDir: dir, progress: 'none', onStep: (r) => seen.push(r) });
    const steps = readLog(path.join(dir, 'log.jsonl')).filter((r) => r.type === 'step');
    assert.equal(steps.length, 3);
    assert.equal(steps[0].skipped, true, 'the first step at scale 2^60 overflows');
    assert.equal(steps[1].skipped, undefined, 'at 2^10 the step trains');
    assert.deepEqual(seen.map((r) => r.skipped), steps.map((r) => r.skipped));
    assert.equal(kds.stepCount, 2);
    await kds.dispose();
  } finally {
    removeDir(dir);
  }
});

describe('precision, memory format and cuDNN settings: validation and reporting', () => {
  it('bad values are E_ARG naming what was expected', async () => {
    const kds = new KDS();
    await expectKDSError(() => kds.setPrecision('fp64'), 'E_ARG', /precision must be 'fp32', 'bf16' or 'fp16', got the string 'fp64'/);
    await expectKDSError(() => kds.setPrecision('bf16', { initScale: 8 }), 'E_ARG', /fp16's loss scaling; 'bf16' does not scale/);
    await expectKDSError(() => kds.setPrecision('fp16', { growthFactor: 0.5 }), 'E_ARG', /growthFactor must be a number > 1, got number 0.5/);
    await expectKDSError(() => kds.setPrecision('fp16', { backoffFactor: 1 }), 'E_ARG', /backoffFactor must be a number in \(0, 1\)/);
    await expectKDSError(() => kds.setPrecision('fp16', { growthInterval: 1.5 }), 'E_ARG', /growthInterval must be a positive integer/);
    await expectKDSError(() => kds.setPrecision('fp16', { initScale: 0 }), 'E_ARG', /initScale must be a number > 0/);
    await expectKDSError(() => kds.setPrecision('fp16', { scale: 2 }), 'E_ARG', /precision options: unknown option 'scale'/);
    await expectKDSError(() => kds.setTeacherPrecision('bfloat16'), 'E_ARG', /teacher precision must be 'step', 'fp32', 'bf16' or 'fp16', got the string 'bfloat16'/);
    await expectKDSError(() => kds.setMemoryFormat('nhwc'), 'E_ARG', /memory format must be 'contiguous' or 'channels_last', got the string 'nhwc'/);
    await expectKDSError(() => setCudnnBenchmark('yes'), 'E_ARG', /cudnnBenchmark must be a boolean/);
    assert.equal(kds.precision, 'fp32');
    assert.equal(kds.teacherPrecision, 'step');
    assert.equal(kds.memoryFormat, 'contiguous');
    await kds.dispose();
  });

  it('info() reports cuDNN autotuning and the CUDA devices (none in a CPU build)', () => {
    const i = info();
    assert.ok(Array.isArray(i.cudaDevices));
    assert.equal(i.cudaDevices.length, i.cudaDeviceCount);
    setCudnnBenchmark(true);
    assert.equal(info().cudnnBenchmark, true);
    setCudnnBenchmark(false);
    assert.equal(info().cudnnBenchmark, false);
  });

  it('info().teacherPrecisions: the CPU\'s as /proc/cpuinfo\'s flags say, and exactly the values setTeacherPrecision accepts', async () => {
    const { cpu, cuda } = info().teacherPrecisions;
    assert.deepEqual(cpu, ['fp32', ...(CPU_BF16 ? ['bf16'] : []), ...(CPU_FP16 ? ['fp16'] : [])]);
    if (!info().cudaAvailable) assert.deepEqual(cuda, []);
    const kds = new KDS();
    for (const precision of ['fp32', 'bf16', 'fp16']) {
      if (cpu.includes(precision)) kds.setTeacherPrecision(precision);
      else await expectKDSError(() => kds.setTeacherPrecision(precision), 'E_DEVICE', new RegExp(`a '${precision}' teacher on cpu needs`));
    }
    await kds.dispose();
  });
});
