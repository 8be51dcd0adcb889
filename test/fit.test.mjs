// fit: the schedule, validation and checkpoint cadence are as configured; a resumed run reproduces the
// uninterrupted run's losses exactly on CPU; a checkpoint write killed midway leaves the previous one
// loadable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { KDS, models, manualSeed, setNumThreads, seededBlocks, readLog, createSchedule, datasets } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = (prefix) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

// A deterministic stand-in for the data sampler: batch i of a stream seeded with s depends on (s, i) only.
function fakeSampler(seed, n = 2, h = 8, scale = 2) {
  let i = 0;
  return {
    async next() {
      let s = (seed * 7919 + i++ * 104729 + 1) % 2 ** 31;
      const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 255;
      const lr = { data: Float32Array.from({ length: n * 3 * h * h }, rand), shape: [n, 3, h, h] };
      const hr = { data: Float32Array.from({ length: n * 3 * h * h * scale * scale }, rand), shape: [n, 3, h * scale, h * scale] };
      return { done: false, value: { lr, hr } };
    },
  };
}

function session(studentSeed = 2) {
  manualSeed(1);
  const teacher = models.edsr({ scale: 2, nResblocks: 3, nFeats: 8 });
  manualSeed(studentSeed);
  const student = models.edsr({ scale: 2, nResblocks: 2, nFeats: 6 });
  return { kds: new KDS().setTeacher(teacher).setStudent(student), student };
}

// A real validator: PSNR of the student's output against a fixed target, computed here in JS.
async function validator(student) {
  const lr = { data: new Float32Array(3 * 6 * 6).fill(100), shape: [1, 3, 6, 6] };
  const out = (await student.forward(lr)).output.toFloat32Array();
  let mse = 0;
  for (const v of out) mse += (Math.min(255, Math.max(0, v)) - 120) ** 2;
  mse /= out.length;
  return { psnr: 10 * Math.log10((255 * 255) / Math.max(mse, 1e-10)), ssim: 0 };
}

test('schedules give the documented rates', () => {
  const m = createSchedule({ type: 'multistep', lr: 1e-3, milestones: [2, 5], gamma: 0.5 }, 7);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((s) => m.rate(s)), [1e-3, 1e-3, 5e-4, 5e-4, 5e-4, 2.5e-4, 2.5e-4]);
  const d = createSchedule(undefined, 100);
  assert.deepEqual(d.options, { type: 'multistep', lr: 1e-4, milestones: [50, 75], gamma: 0.5 });
  assert.deepEqual([1, 2, 3, 4].map((n) => createSchedule(undefined, n).options.milestones), [[], [1], [2], [2, 3]]);
  const c = createSchedule({ type: 'cosine', lr: 1e-3, minLr: 1e-5, warmup: 2 }, 12);
  assert.equal(c.rate(1), 5e-4);
  assert.equal(c.rate(2), 1e-3);
  assert.equal(c.rate(3), 1e-3); // first step after warm-up: the peak
  assert.ok(Math.abs(c.rate(12) - 1e-5) < 1e-15); // last step: the floor
  assert.ok(Math.abs(c.rate(7.5) - (1e-5 + (1e-3 - 1e-5) / 2)) < 1e-12); // halfway
  assert.equal(createSchedule({ type: 'constant', lr: 3e-4 }, 5).rate(5), 3e-4);
  assert.throws(() => createSchedule({ type: 'step' }, 5), /schedule.type must be/);
  assert.throws(() => createSchedule({ type: 'multistep', milestones: [5, 2] }, 9), /must increase/);
  assert.throws(() => createSchedule({ type: 'cosine', warmup: 9 }, 9), /warmup/);
});

test('fit follows the schedule and validates and checkpoints at the configured steps', async () => {
  setNumThreads(1);
  const dir = tmp('kds-fit-');
  const schedule = { type: 'multistep', lr: 1e-3, milestones: [2, 5], gamma: 0.5 };

  // Reference: the same steps by hand with setOptimizer({ lr }) before each step.
  const manual = session();
  const stream = fakeSampler(11);
  const expected = [];
  const rates = [1e-3, 1e-3, 5e-4, 5e-4, 5e-4, 2.5e-4, 2.5e-4];
  for (const lr of rates) {
    manual.kds.setOptimizer({ lr });
    const { value } = await stream.next();
    const { total, DS, TS, SA } = await manual.kds.train(value.lr, value.hr);
    expected.push({ total, DS, TS, SA });
  }

  const { kds } = session();
  const seen = { steps: [], validations: [], checkpoints: [] };
  const result = await kds.fit({
    train: seededBlocks(fakeSampler, 11, 1000),
    val: validator,
    steps: 7,
    schedule,
    validateEvery: 3,
    checkpointEvery: 2,
    outDir: dir,
    onStep: (r) => seen.steps.push(r),
    onValidation: (r) => seen.validations.push(r.step),
    onCheckpoint: (c) => seen.checkpoints.push(c.step),
  });
  assert.deepEqual(seen.steps.map((r) => r.lr), rates);
  assert.deepEqual(seen.steps.map((r) => ({ total: r.total, DS: r.DS, TS: r.TS, SA: r.SA })), expected);
  assert.deepEqual(seen.validations, [3, 6, 7]);
  assert.deepEqual(seen.checkpoints, [2, 4, 6, 7]);
  assert.equal(result.step, 7);
  assert.equal(result.aborted, false);
  assert.equal(kds.stepCount, 7);
  assert.deepEqual(result.validations.map((v) => v.step), [3, 6, 7]);
  const bestValidation = result.validations.reduce((a, b) => (b.psnr > a.psnr ? b : a));
  assert.equal(result.best.psnr, bestValidation.psnr);
  for (const f of ['checkpoint.pt', 'student.pt', 'best.pt', 'log.jsonl']) assert.ok(fs.existsSync(path.join(dir, f)), f);

  const log = readLog(path.join(dir, 'log.jsonl'));
  assert.deepEqual(log.filter((r) => r.type === 'step').map((r) => r.step), [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(log.filter((r) => r.type === 'validation').map((r) => r.step), [3, 6, 7]);
  assert.deepEqual(log.filter((r) => r.type === 'checkpoint').map((r) => r.step), [2, 4, 6, 7]);
  assert.equal(log[0].type, 'start');
  assert.equal(log.at(-1).type, 'end');
  await kds.dispose();
  await manual.kds.dispose();
});

test('a resumed run reproduces the losses of the uninterrupted run (after an abort and after a crash)', async () => {
  setNumThreads(1); // one thread: the same floating-point reduction order in every run
  const steps = 10;
  const common = { steps, schedule: { type: 'multistep', lr: 2e-3, milestones: [4, 8] }, checkpointEvery: 4, validateEvery: 5, val: validator };
  const losses = (records) => records.map((r) => [r.step, r.total, r.DS, r.TS, r.SA]);

  const straight = [];
  const a = session();
  await a.kds.fit({ ...common, train: seededBlocks(fakeSampler, 5, 3), outDir: tmp('kds-fit-a-'), onStep: (r) => straight.push(r) });

  // 1) Stopped by an AbortSignal after step 6: fit finishes the step, writes a checkpoint and returns.
  const dir = tmp('kds-fit-b-');
  const controller = new AbortController();
  const b = session();
  const stopped = await b.kds.fit({
    ...common, train: seededBlocks(fakeSampler, 5, 3), outDir: dir, signal: controller.signal,
    onStep: (r) => r.step === 6 && controller.abort(),
  });
  assert.equal(stopped.aborted, true);
  assert.equal(stopped.step, 6);
  await b.kds.dispose();
  const resumed = [];
  const c = session(77); // other initial weights: everything must come from the checkpoint
  const r1 = await c.kds.fit({ ...common, train: seededBlocks(fakeSampler, 5, 3), outDir: dir, resume: true, onStep: (r) => resumed.push(r) });
  assert.equal(r1.startStep, 6);
  assert.deepEqual(losses(resumed), losses(straight.slice(6)));
  await c.kds.dispose();

  // 2) A crash at step 7 (after the checkpoint of step 4): the resumed run restarts at step 5 and the log
  //    keeps one record per step.
  const dir2 = tmp('kds-fit-c-');
  const d = session();
  await assert.rejects(
    d.kds.fit({ ...common, train: seededBlocks(fakeSampler, 5, 3), outDir: dir2, onStep: (r) => { if (r.step === 7) throw new Error('crash'); } }),
    /crash/,
  );
  await d.kds.dispose();
  const again = [];
  const e = session(78);
  const r2 = await e.kds.fit({ ...common, train: seededBlocks(fakeSampler, 5, 3), outDir: dir2, resume: true, onStep: (r) => again.push(r) });
  assert.equal(r2.startStep, 4);
  assert.deepEqual(losses(again), losses(straight.slice(4)));
  const log = readLog(path.join(dir2, 'log.jsonl'));
  assert.deepEqual(log.filter((r) => r.type === 'step').map((r) => r.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(losses(log.filter((r) => r.type === 'step')), losses(straight));
  await e.kds.dispose();
  await a.kds.dispose();
});

test('ema: validation and student.pt use the weight average, which a resumed run restores exactly', async () => {
  setNumThreads(1);
  const probe = { data: new Float32Array(3 * 6 * 6).fill(90), shape: [1, 3, 6, 6] };
  const out = async (model) => (await model.forward(probe)).output.toFloat32Array();
  const common = { steps: 8, schedule: { type: 'constant', lr: 5e-3 }, checkpointEvery: 4, ema: 0.9 };

  const dirA = tmp('kds-fit-ema-a-');
  const a = session();
  const seen = [];
  await a.kds.fit({ ...common, train: seededBlocks(fakeSampler, 9, 3), outDir: dirA, val: async (m) => { seen.push(await out(m)); return { psnr: 0, ssim: 0 }; } });
  const trained = await out(a.student);
  const averaged = await a.kds.withAveragedWeights(() => out(a.student));
  assert.deepEqual(await out(a.student), trained, 'withAveragedWeights puts the trained weights back');
  assert.ok(averaged.some((v, i) => Math.abs(v - trained[i]) > 1e-4), 'the average differs from the trained weights');
  assert.deepEqual(seen.at(-1), averaged, 'validation saw the average');
  const saved = models.edsr({ scale: 2, nResblocks: 2, nFeats: 6 });
  await saved.loadStateDict(path.join(dirA, 'student.pt'));
  assert.deepEqual(await out(saved), averaged, 'student.pt holds the average');

  // Stopped after step 5 (checkpoint at 4), resumed in a fresh session: the same average at the end.
  const dirB = tmp('kds-fit-ema-b-');
  const b = session();
  await assert.rejects(b.kds.fit({ ...common, train: seededBlocks(fakeSampler, 9, 3), outDir: dirB, onStep: (r) => { if (r.step === 5) throw new Error('crash'); } }), /crash/);
  await b.kds.dispose();
  const c = session(79);
  await c.kds.fit({ ...common, train: seededBlocks(fakeSampler, 9, 3), outDir: dirB, resume: true });
  assert.deepEqual(await c.kds.withAveragedWeights(() => out(c.student)), averaged);
  await a.kds.dispose();
  await c.kds.dispose();
});

test('on photographs (the data sampler), a resumed run reproduces the uninterrupted losses', async () => {
  setNumThreads(1);
  const sharp = createRequire(import.meta.url)('sharp');
  const photos = tmp('kds-fit-photos-');
  for (let k = 0; k < 2; k++) {
    const w = 40, h = 36, px = Buffer.alloc(w * h * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * (7 + k) + Math.floor(i / 97) * 13) % 256;
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path.join(photos, `p${k}.png`));
  }
  const train = () => datasets.folder(photos, { scale: 2 });
  const common = { steps: 6, batchSize: 2, patchSize: 8, seed: 9, schedule: { type: 'constant', lr: 1e-3 } };
  const straight = [];
  const a = session();
  await a.kds.fit({ ...common, train: train(), onStep: (r) => straight.push([r.total, r.DS, r.TS, r.SA]) });
  const dir = tmp('kds-fit-photos-run-');
  const controller = new AbortController();
  const b = session();
  await b.kds.fit({ ...common, train: train(), outDir: dir, signal: controller.signal, onStep: (r) => r.step === 4 && controller.abort() });
  const resumed = [];
  const c = session(31);
  await c.kds.fit({ ...common, train: train(), outDir: dir, resume: true, onStep: (r) => resumed.push([r.total, r.DS, r.TS, r.SA]) });
  assert.deepEqual(resumed, straight.slice(4));
  for (const x of [a, b, c]) await x.kds.dispose();
});

test('resuming with another schedule is refused', async () => {
  const dir = tmp('kds-fit-d-');
  const a = session();
  await a.kds.fit({ train: seededBlocks(fakeSampler, 1), steps: 2, outDir: dir, schedule: { type: 'constant', lr: 1e-4 } });
  const b = session();
  await assert.rejects(
    b.kds.fit({ train: seededBlocks(fakeSampler, 1), steps: 2, outDir: dir, resume: true, schedule: { type: 'constant', lr: 2e-4 } }),
    (err) => err.code === 'E_STATE' && /schedule/.test(err.message),
  );
  await assert.rejects(b.kds.fit({ train: seededBlocks(fakeSampler, 1), steps: 2, bogus: 1 }), (err) => err.code === 'E_ARG' && /bogus/.test(err.message));
  await assert.rejects(b.kds.fit({ train: [], steps: 2 }), (err) => err.code === 'E_ARG' && /batch source/.test(err.message));
  await a.kds.dispose();
  await b.kds.dispose();
});

test('a checkpoint write killed midway by SIGKILL leaves the previous checkpoint loadable', async () => {
  const dir = tmp('kds-fit-kill-');
  const file = path.join(dir, 'checkpoint.pt');
  let killedMidWrite = 0;
  for (let attempt = 0; attempt < 5 && killedMidWrite < 2; attempt++) {
    const child = spawn(process.execPath, [path.join(here, 'fixtures', 'checkpoint-writer.mjs'), file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    await new Promise((resolve, reject) => {
      child.stdout.on('data', (chunk) => {
        out += chunk;
        if (out.includes('first\n')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`the writer exited early with ${code}`)));
    });
    // Kill as soon as the next write's temporary file appears: the write is then under way.
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline && !fs.readdirSync(dir).some((f) => f.startsWith('checkpoint.pt.tmp-'))) await new Promise((r) => setImmediate(r));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const temporaries = fs.readdirSync(dir).filter((f) => f.startsWith('checkpoint.pt.tmp-'));
    if (temporaries.length > 0) killedMidWrite++;

    manualSeed(3);
    const student = models.edsr({ scale: 2, nResblocks: 4, nFeats: 64 });
    const kds = new KDS().setStudent(student).setLoss({ SA: false, weights: { DS: 1, TS: 0 } });
    const extra = await kds.loadCheckpoint(file);
    assert.ok(Number.isInteger(extra.n) && extra.n >= 0, `the checkpoint holds a complete write (n = ${extra?.n})`);
    assert.equal(kds.stepCount, 1);
    await kds.dispose();
    for (const t of temporaries) fs.rmSync(path.join(dir, t));
  }
  assert.ok(killedMidWrite >= 1, 'at least one kill landed while a checkpoint was being written');
});

test('progress: a redrawn bar on a terminal, plain lines elsewhere, nothing with none', async () => {
  const { createProgress } = await import('../dist/train/progress.js');
  const capture = (isTTY) => {
    const stream = { isTTY, columns: 200, text: '', write(t) { this.text += t; } };
    return stream;
  };
  const step = (s) => ({ step: s, totalSteps: 40, stepsPerSecond: 2, lr: 1e-4, losses: { total: 1.5, DS: 1, TS: 0.5, SA: 0.01 }, lastPsnr: 30.5 });
  const tty = capture(true);
  const bar = createProgress('auto', tty);
  for (let s = 1; s <= 40; s++) bar.step(step(s));
  bar.note('validation at step 40');
  bar.end();
  // eslint-disable-next-line no-control-regex -- the terminal's erase-line sequence (ESC [2K) is what is checked
  assert.match(tty.text, /\r\x1b\[2K\[#{24}\] 40\/40 {2}2\.00 steps\/s {2}ETA 00:00 {2}loss 1\.5000 \(DS 1\.000 TS 0\.500 SA 0\.0100\) {2}lr 1\.00e-4 {2}val 30\.50 dB/);
  assert.match(tty.text, /validation at step 40\n$/);
  const pipe = capture(false);
  const lines = createProgress('auto', pipe);
  for (let s = 1; s <= 40; s++) lines.step(step(s));
  assert.deepEqual(pipe.text.trim().split('\n').map((l) => l.split(' ')[1]), ['2/40', '4/40', '6/40', '8/40', '10/40', '12/40', '14/40', '16/40', '18/40', '20/40', '22/40', '24/40', '26/40', '28/40', '30/40', '32/40', '34/40', '36/40', '38/40', '40/40']);
  assert.match(pipe.text, /^step 2\/40 {2}2\.00 steps\/s {2}ETA 00:19 /);
  assert.ok(!pipe.text.includes('\r'));
  const quiet = capture(true);
  createProgress('none', quiet).step(step(1));
  assert.equal(quiet.text, '');
});
