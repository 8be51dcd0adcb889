// The kds command end to end on tiny photographs: train, distill (with the trained model as teacher),
// eval, upscale, info, --help everywhere; bad flags and configs give one line, the usage and exit code 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { datasets, evaluate, models, readLog } from '../dist/index.js';

const require = createRequire(import.meta.url);
const sharp = require('sharp');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'kds.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-cli-'));

function kds(...args) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, KDS_NUM_THREADS: '1' }, timeout: 120000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Smooth, structured 48 x 40 RGB images (deterministic), as PNG files in `dir`.
async function writePhotos(dir, count, seed) {
  fs.mkdirSync(dir, { recursive: true });
  for (let k = 0; k < count; k++) {
    const w = 48, h = 40, px = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < 3; c++) {
          const v = 128 + 90 * Math.sin((x * (0.2 + 0.05 * c) + y * 0.13 * (k + 1) + seed) * (1 + 0.1 * k)) + ((x + y) % 7 === 0 ? 30 : 0);
          px[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
        }
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path.join(dir, `img${k}.png`));
  }
}

const trainDir = path.join(work, 'train');
const valDir = path.join(work, 'val');
const tiny = ['--student', 'edsr-r1f4', '--steps', '4', '--patch-size', '8', '--batch-size', '2', '--progress', 'lines', '--threads', '1'];

test('setup: tiny photographs', async () => {
  await writePhotos(trainDir, 3, 0);
  await writePhotos(valDir, 2, 5);
});

test('--help works for kds and every command', () => {
  const top = kds('--help');
  assert.equal(top.code, 0);
  for (const c of ['distill', 'train', 'eval', 'upscale', 'info']) {
    assert.match(top.stdout, new RegExp(`\\n  ${c} `));
    const r = kds(c, '--help');
    assert.equal(r.code, 0, c);
    assert.match(r.stdout, new RegExp(`^usage: kds ${c}`), c);
    assert.match(r.stdout, /options:/);
  }
});

test('train writes the model, checkpoint, log and report', () => {
  const out = path.join(work, 'run-train');
  const r = kds('train', '--train', trainDir, '--val', valDir, '--out', out, '--validate-every', '2', '--checkpoint-every', '2', ...tiny);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['student.pt', 'student.json', 'checkpoint.pt', 'log.jsonl', 'run.json', 'report.md', 'report.html', 'report-chart.png', 'report-crops.png'])
    assert.ok(fs.existsSync(path.join(out, f)), f);
  const log = readLog(path.join(out, 'log.jsonl'));
  assert.deepEqual(log.filter((x) => x.type === 'step').map((x) => x.step), [1, 2, 3, 4]);
  assert.deepEqual(log.filter((x) => x.type === 'validation').map((x) => x.step), [2, 4]);
  for (const x of log.filter((x) => x.type === 'step')) assert.equal(x.TS, 0); // no teacher
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'student.json'), 'utf8')), { format: 'kds-model', arch: 'edsr-r1f4', scale: 2 });
  assert.match(r.stderr, /step 4\/4/); // plain progress lines (not a terminal)
  assert.match(r.stdout, /bicubic\s+PSNR/);
  assert.match(fs.readFileSync(path.join(out, 'report.md'), 'utf8'), /!\[loss and validation PSNR\]\(report-chart.png\)/);
});

test('the report images are PNGs: a two-panel chart and bicubic | student | ground truth crops', async () => {
  const out = path.join(work, 'run-train');
  const chart = await sharp(path.join(out, 'report-chart.png')).metadata();
  assert.equal(chart.format, 'png');
  assert.equal(chart.width, 1040);
  const crops = await sharp(path.join(out, 'report-crops.png')).metadata();
  assert.equal(crops.format, 'png');
  assert.equal(crops.width, 3 * 120 + 2 * 8); // three 40 px crops (the images are 40 px tall) enlarged 3x, 8 px apart
});

test('distill uses the teacher, resumes, and its crops have four panels', async () => {
  const teacher = path.join(work, 'run-train', 'student.pt');
  const out = path.join(work, 'run-distill');
  const args = ['distill', '--teacher', teacher, '--train', trainDir, '--val', valDir, '--out', out, '--checkpoint-every', '2', ...tiny];
  const r = kds(...args);
  assert.equal(r.code, 0, r.stderr);
  const steps = readLog(path.join(out, 'log.jsonl')).filter((x) => x.type === 'step');
  assert.ok(steps.every((x) => x.TS > 0 && x.SA >= 0));
  const crops = await sharp(path.join(out, 'report-crops.png')).metadata();
  assert.equal(crops.width, 4 * 120 + 3 * 8);
  // Six steps with --resume: continues from the checkpoint of step 4 (same schedule: constant).
  const c = ['--schedule', 'constant', '--lr', '1e-4'];
  const more = path.join(work, 'run-resume');
  assert.equal(kds('distill', ...args.slice(1).map((a) => (a === out ? more : a)), ...c).code, 0);
  const again = kds('distill', ...args.slice(1).map((a) => (a === out ? more : a === '4' ? '6' : a)), ...c, '--resume');
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /resumed from .* at step 4\/6/);
  const log = readLog(path.join(more, 'log.jsonl'));
  assert.deepEqual(log.filter((x) => x.type === 'step').map((x) => x.step), [1, 2, 3, 4, 5, 6]);
});

test('--teacher-precision: fp32 trains; bf16 trains where the CPU has AVX512-BF16/AMX-BF16, else exit 1 with E_DEVICE naming the missing instructions', () => {
  const teacher = path.join(work, 'run-train', 'student.pt');
  const base = ['distill', '--teacher', teacher, '--train', trainDir, ...tiny, '--no-report'];
  const fp32 = kds(...base, '--out', path.join(work, 'run-teacher-fp32'), '--precision', 'bf16', '--teacher-precision', 'fp32');
  assert.equal(fp32.code, 0, fp32.stderr);
  const flags = /^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1].split(/\s+/) ?? [];
  const bf16 = kds(...base, '--out', path.join(work, 'run-teacher-bf16'), '--teacher-precision', 'bf16');
  if (flags.includes('avx512_bf16') || flags.includes('amx_bf16')) assert.equal(bf16.code, 0, bf16.stderr);
  else {
    assert.equal(bf16.code, 1, bf16.stderr);
    assert.match(bf16.stderr.split('\n')[0], /^kds distill: error \[E_DEVICE\]: a 'bf16' teacher on cpu needs a CPU with AVX512-BF16 or AMX-BF16 instructions/);
  }
});

test('a config file with paths relative to it, overridden by flags', () => {
  const dir = path.join(work, 'cfg');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'run.json');
  fs.writeFileSync(file, JSON.stringify({
    teacher: { weights: '../run-train/student.pt' },
    student: { arch: 'edsr-r1f4' },
    data: { train: '../train', scale: 2, patchSize: 8, batchSize: 2 },
    loss: { SA: true, weights: { DS: 0.5, TS: 0.5, SA: 2 }, positions: [1] },
    schedule: { type: 'cosine', lr: 1e-3 },
    steps: 50, seed: 3, out: 'out', progress: 'none', report: false, threads: 1,
  }));
  const r = kds('distill', '--config', file, '--steps', '3');
  assert.equal(r.code, 0, r.stderr);
  const run = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'run.json'), 'utf8'));
  assert.equal(run.steps, 3);
  assert.equal(run.data.train, trainDir);
  assert.deepEqual(run.loss, { SA: true, weights: { DS: 0.5, TS: 0.5, SA: 2 }, positions: [1] });
  const steps = readLog(path.join(dir, 'out', 'log.jsonl')).filter((x) => x.type === 'step');
  assert.deepEqual(steps.map((x) => x.lr), [1e-3, 5e-4, 0]); // cosine over 3 steps
  assert.ok(!fs.existsSync(path.join(dir, 'out', 'report.md')));
});

test('zoo architecture strings: a tiny RCAN trains through the CLI', () => {
  const out = path.join(work, 'run-rcan');
  const r = kds('train', '--train', trainDir, '--out', out, '--no-report', ...tiny.map((a) => (a === 'edsr-r1f4' ? 'rcan-g1b1f16' : a === '4' ? '1' : a)));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'student.json'), 'utf8')).arch, 'rcan-g1b1f16');
});

test('Ctrl-C (SIGINT) stops a run after the step in flight with a checkpoint; --resume finishes it', async () => {
  const out = path.join(work, 'run-interrupted');
  const args = ['train', '--train', trainDir, '--out', out, '--schedule', 'constant', ...tiny.map((a) => (a === '4' ? '400' : a))];
  const child = spawn(process.execPath, [bin, ...args], { cwd: work, env: { ...process.env, KDS_NUM_THREADS: '1' } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const logFile = path.join(out, 'log.jsonl');
  const hasSteps = () => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('"type":"step","step":3,');
  const deadline = Date.now() + 60000;
  while (!hasSteps() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGINT');
  const code = await new Promise((r) => child.on('exit', r));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /stopped at step (\d+)\/400/);
  const stoppedAt = Number(/stopped at step (\d+)\/400/.exec(stderr)[1]);
  const log = readLog(logFile);
  assert.equal(log.filter((x) => x.type === 'checkpoint').at(-1).step, stoppedAt);
  assert.ok(!fs.existsSync(path.join(out, 'student.pt')));
  const resumed = kds(...args.map((a) => (a === '400' ? String(stoppedAt + 2) : a)), '--resume');
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`resumed from .* at step ${stoppedAt}/${stoppedAt + 2}`));
  const steps = readLog(logFile).filter((x) => x.type === 'step').map((x) => x.step);
  assert.deepEqual(steps, Array.from({ length: stoppedAt + 2 }, (_, i) => i + 1));
});

test('eval prints the table and its JSON equals the library evaluation', async () => {
  const model = path.join(work, 'run-train', 'student.pt');
  const table = kds('eval', '--model', model, '--data', valDir);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /bicubic PSNR/);
  assert.match(table.stdout, /\nmean /);
  const json = kds('eval', '--model', model, '--data', valDir, '--json');
  assert.equal(json.code, 0, json.stderr);
  const got = JSON.parse(json.stdout);
  const m = models.edsr({ scale: 2, nResblocks: 1, nFeats: 4 });
  await m.loadStateDict(model);
  const expected = await evaluate(m, datasets.folder(valDir, { scale: 2 }));
  assert.deepEqual(got.mean, expected.mean);
  assert.deepEqual(got.bicubic, expected.bicubic);
});

test('upscale writes an image twice the size', async () => {
  const output = path.join(work, 'up.png');
  const r = kds('upscale', '--model', path.join(work, 'run-train', 'student.pt'), path.join(valDir, 'img0.png'), output);
  assert.equal(r.code, 0, r.stderr);
  const meta = await sharp(output).metadata();
  assert.deepEqual([meta.width, meta.height], [96, 80]);
});

test('info reports versions, LibTorch and devices', () => {
  const r = kds('info');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /LibTorch 2\.\d+/);
  assert.match(r.stdout, /CUDA: /);
  const rj = kds('info', '--json');
  assert.equal(rj.code, 0, rj.stderr);
  const j = JSON.parse(rj.stdout);
  assert.equal(j.cpu.threads, 1); // KDS_NUM_THREADS=1
  // The LibTorch actually loaded: the one the install linked as .torch (scripts/libtorch.js).
  assert.equal(fs.realpathSync(j.libtorch), fs.realpathSync(path.join(root, '.torch')));
  assert.equal(j.cuda.names.length, j.cuda.devices);
  assert.equal(typeof j.cuda.cudnnBenchmark, 'boolean');
  assert.match(r.stdout, /cuDNN autotuning \(benchmark\): (on|off)/);
  assert.equal(j.teacherPrecisions.cpu[0], 'fp32');
  assert.match(r.stdout, new RegExp(`teacher precisions \\(--teacher-precision\\): cpu ${j.teacherPrecisions.cpu.join(', ')}`));
});

test('kds study --device: a malformed device is a usage error (exit 2); an unavailable one fails before any training (exit 1)', () => {
  const out = path.join(work, 'study-device');
  const args = ['study', '--teacher', path.join(root, 'assets', 'teacher-edsr-x2.pt'), '--train', trainDir, '--test', trainDir, '--out', out];
  const bad = kds(...args, '--device', 'gpu');
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /^kds study: device must be 'cpu', 'cuda' or 'cuda:N', got the string 'gpu'$/m);
  if (!JSON.parse(kds('info', '--json').stdout).cuda.available) {
    const r = kds(...args, '--device', 'cuda');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /kds study: error \[E_DEVICE\]: device 'cuda' requested, but CUDA is not available/);
  }
  assert.equal(fs.existsSync(path.join(out, 'runs')), false, 'nothing was trained');
});

test('bad flags and configs: one line saying what is wrong, the usage, exit code 2', () => {
  const config = (body) => {
    const f = path.join(work, `config-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(f, typeof body === 'string' ? body : JSON.stringify(body));
    return f;
  };
  const cases = [
    [['frobnicate'], /^kds: unknown command 'frobnicate'$/, 'usage: kds <command>'],
    [[], /^usage: kds <command>/, 'commands:'],
    [['train', '--bogus'], /^kds train: unknown option '--bogus'$/, 'usage: kds train'],
    [['train', '--train', trainDir, '--steps', 'many'], /^kds train: --steps expects an integer, got 'many'$/, 'usage: kds train'],
    [['train', '--steps', '3'], /^kds train: --train DIR \(or data.train in the config\) is required$/, 'usage: kds train'],
    [['train', '--train', trainDir, '--teacher', 'x.pt'], /^kds train: unknown option '--teacher'$/, 'usage: kds train'],
    [['distill', '--train', trainDir], /^kds distill: distill needs a teacher/, 'usage: kds distill'],
    [['train', '--config', config({ stepz: 3, data: { train: trainDir } })], /^kds train: config: unknown option 'stepz'/, 'usage: kds train'],
    [['train', '--config', config({ data: { train: trainDir }, loss: { SA: true } })], /^kds train: config: 'loss' is for kds distill only$/, 'usage: kds train'],
    [['train', '--config', config({ data: { train: trainDir, patchsize: 8 } })], /^kds train: data: unknown option 'patchsize'/, 'usage: kds train'],
    [['train', '--train', trainDir, '--scale', '5'], /^kds train: data.scale must be one of 2, 3, 4, 8, got number 5$/, 'usage: kds train'],
    [['train', '--config', config('{ "steps": 3,')], /^kds train: the config '.*' is not valid JSON/, 'usage: kds train'],
    [['train', '--config', config({ data: { train: trainDir }, schedule: { type: 'multistep', milestones: [5, 2] } })], /^kds train: schedule.milestones must increase/, 'usage: kds train'],
    [['distill', '--teacher', 't.pt', '--train', trainDir, '--teacher-precision', 'int8'], /^kds distill: teacherPrecision must be 'step', 'fp32', 'bf16' or 'fp16', got the string 'int8'$/, 'usage: kds distill'],
    [['train', '--train', trainDir, '--teacher-precision', 'bf16'], /^kds train: unknown option '--teacher-precision'$/, 'usage: kds train'],
    [['train', '--train', trainDir, '--precision', 'fp64'], /^kds train: precision must be 'fp32', 'bf16' or 'fp16', got the string 'fp64'$/, 'usage: kds train'],
    [['train', '--train', trainDir, '--student', 'resnet50'], /^kds train: student.arch: unknown architecture 'resnet50'/, 'usage: kds train'],
    [['upscale', '--model', 'm.pt', 'in.png'], /^kds upscale: upscale needs an input image and an output .png/, 'usage: kds upscale'],
    [['eval', '--data', valDir], /^kds eval: --model FILE is required$/, 'usage: kds eval'],
    [['info', 'extra'], /^kds info: unexpected argument 'extra'$/, 'usage: kds info'],
  ];
  for (const [args, first, usage] of cases) {
    const r = kds(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.split('\n');
    assert.match(lines[0], first, args.join(' '));
    assert.ok(r.stderr.includes(usage), `${args.join(' ')} prints the usage`);
    assert.equal(r.stdout, '');
  }
});

test('a missing file is a failure (exit code 1) with a one-line error', () => {
  const r = kds('eval', '--model', path.join(work, 'nope.pt'), '--arch', 'edsr-r1f4', '--data', valDir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^kds eval: error \[E_FILE\]: .*nope\.pt/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

// The flag declarations (lib/cli/flags.ts) drive help, config keys, merging and checks: these tests read
// the declaration and check each derived behaviour for every flag, so a new flag is covered by adding it.
const { FLAGS, CONFIG_KEYS, flagsFor } = require('../dist/cli/flags.js');
const { defaultText } = require('../dist/cli/args.js');
const { runConfig } = require('../dist/cli/run-config.js');

const getPath = (obj, key) => key.split('.').reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), obj);
const setPath = (obj, key, value) => {
  const parts = key.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) o = o[p] ??= {};
  o[parts.at(-1)] = value;
  return obj;
};
const runCommands = ['distill', 'train'];
/** The flags distill/train need to build a run at all. */
const needed = (command) => new Map([['train', 'photos/train'], ...(command === 'distill' ? [['teacher', 'teacher.pt']] : [])]);
/** A value of the flag's type that passes its check and differs from its default. */
const STRING_SAMPLES = { features: '10*SA+1*AT', 'teacher-arch': 'rcan-g1b1f16', student: 'san-g1b1f16', schedule: 'cosine', device: 'cuda:1', precision: 'bf16', 'teacher-precision': 'fp32', progress: 'lines' };
function sample(flag) {
  switch (flag.type) {
    case 'int': return 4;
    case 'number': return 0.25;
    case 'ints': return [1, 2];
    case 'boolean': return flag.default !== true;
    case 'path': return path.join('some', `${flag.name}-dir`);
    case 'string': return STRING_SAMPLES[flag.name];
  }
}

test('every flag of every command is declared once, with help, and its default is shown in --help', () => {
  for (const command of ['distill', 'train', 'eval', 'upscale', 'info']) {
    const flags = flagsFor(command);
    assert.equal(new Set(flags.map((f) => f.name)).size, flags.length, `${command}: a flag name declared twice`);
    const help = kds(command, '--help').stdout;
    for (const f of flags) {
      assert.ok(f.help.length > 0, `--${f.name} has a help line`);
      if (f.keeps) assert.ok(f.key?.includes('.'), `--${f.name}: keeps needs a key inside an object`);
      const line = help.split('\n').find((l) => l.startsWith(`  --${f.type === 'boolean' ? '[no-]' : ''}${f.name}${f.value ? ` ${f.value}` : ''} `));
      assert.ok(line, `${command} --help lists --${f.name}`);
      assert.ok(line.includes(f.help), `--${f.name}: its help line`);
      if (f.default !== undefined) assert.ok(line.endsWith(`(default ${defaultText(f.default)})`), `--${f.name}: ${line}`);
      else assert.ok(!line.includes('(default'), `--${f.name} has no declared default: ${line}`);
    }
  }
  // The declared values themselves, as docs/cli.md states them.
  const train = kds('train', '--help').stdout;
  assert.match(train, /\n {2}--patch-size P +LR patch side \(default 48\)\n/);
  assert.match(train, /\n {2}--lr RATE +peak learning rate \(default 1e-4\)\n/);
  assert.match(train, /\n {2}--\[no-\]augment +random flips and rotations \(default on\)\n/);
  assert.match(train, /\n {2}--train DIR +folder of training photographs \(required\)\n/);
  assert.doesNotMatch(train, /--teacher|--ds-weight/);
});

test('each flag with a config key sets that key, from the command line and from a config file, and a flag beats the file', () => {
  const dir = fs.mkdtempSync(path.join(work, 'keys-'));
  let checked = 0;
  for (const command of runCommands)
    for (const flag of flagsFor(command).filter((f) => f.key !== undefined)) {
      const value = sample(flag);
      assert.notEqual(value, undefined, `a sample value for --${flag.name}`);
      assert.notDeepEqual(value, flag.default, `--${flag.name}: the sample differs from the default`);
      const flags = needed(command);
      flags.set(flag.name, value);
      assert.deepEqual(getPath(runConfig(command, flags), flag.key), value, `${command} --${flag.name} sets ${flag.key}`);
      // The same setting in a config file (paths in it are relative to the file).
      const file = path.join(dir, `${command}-${flag.name}.json`);
      const base = { data: { train: 'photos/train' }, ...(command === 'distill' ? { teacher: { weights: 'teacher.pt' } } : {}) };
      fs.writeFileSync(file, JSON.stringify(setPath(base, flag.key, value)));
      const fromFile = getPath(runConfig(command, new Map([['config', file]])), flag.key);
      assert.deepEqual(fromFile, flag.type === 'path' ? path.resolve(dir, value) : value, `${command} config ${flag.key}`);
      checked++;
    }
  assert.ok(checked >= 40, `${checked} flag/command pairs`);
  // A flag beats the file; --teacher replaces the file's whole teacher, --schedule keeps only its lr.
  const file = path.join(dir, 'both.json');
  fs.writeFileSync(file, JSON.stringify({ teacher: { arch: 'edsr-r1f4', weights: 'a.pt' }, data: { patchSize: 8 }, schedule: { type: 'multistep', lr: 0.5, milestones: [3] } }));
  const c = runConfig('distill', new Map([['config', file], ['train', 'photos'], ['teacher', 'b.pt'], ['patch-size', 12], ['schedule', 'cosine']]));
  assert.deepEqual(c.teacher, { weights: 'b.pt' });
  assert.equal(c.data.patchSize, 12);
  assert.deepEqual(c.schedule, { type: 'cosine', lr: 0.5 });
});

test('declared defaults fill unset keys, computed ones from the settings', () => {
  for (const command of runCommands) {
    const c = runConfig(command, needed(command));
    for (const flag of flagsFor(command).filter((f) => f.key !== undefined && f.default !== undefined && typeof f.default !== 'object'))
      assert.deepEqual(getPath(c, flag.key), flag.default, `${command}: ${flag.key} defaults to --${flag.name}'s default`);
    assert.equal(c.student.arch, 'edsr-r16f64');
    assert.equal(c.out, path.join('runs', command));
    assert.equal(c.validateEvery, 100); // steps/10
    assert.equal(runConfig(command, new Map([...needed(command), ['steps', 30]])).checkpointEvery, 3);
    assert.equal(c.threads, undefined); // LibTorch's choice
  }
  assert.deepEqual(runConfig('train', needed('train')).loss, { SA: false, weights: { DS: 1, TS: 0, SA: 0 } });
  assert.deepEqual(runConfig('distill', needed('distill')).loss, {});
});

test('unknown config keys are rejected at every level; keys of the other command too', () => {
  const dir = fs.mkdtempSync(path.join(work, 'unknown-'));
  const rejects = (command, body, message) => {
    const file = path.join(dir, `${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(file, JSON.stringify(body));
    assert.throws(() => runConfig(command, new Map([...needed(command), ['config', file]])), (e) => e.name === 'UsageError' && message.test(e.message), JSON.stringify(body));
  };
  // Every object in the declared keys (config, data, loss, loss.weights, schedule, ...) rejects a stranger.
  const keys = [...FLAGS.filter((f) => f.key).map((f) => f.key), ...CONFIG_KEYS.map((k) => k.key)];
  assert.equal(new Set(keys).size, keys.length, 'each config key is declared once');
  const parents = new Set(keys.map((k) => k.split('.').slice(0, -1).join('.')));
  for (const parent of parents) {
    const command = keys.some((k) => k.startsWith(`${parent}.`) && flagsFor('train').some((f) => f.key === k)) || parent === '' ? 'train' : 'distill';
    const where = parent === '' ? 'config' : parent;
    rejects(command, parent === '' ? { bogus: 1 } : setPath({}, `${parent}.bogus`, 1), new RegExp(`^${where.replace('.', '\\.')}: unknown option 'bogus': expected one of `));
  }
  assert.ok(parents.size >= 7, [...parents].join(' '));
  rejects('train', { teacher: { weights: 'x.pt' } }, /^config: 'teacher' is for kds distill only$/);
  rejects('train', { loss: { SA: false } }, /^config: 'loss' is for kds distill only$/);
  rejects('distill', { data: 'photos' }, /^data must be an object, got the string 'photos'$/);
  rejects('distill', { student: { torchscript: 's.pt', arch: 'edsr-r1f4' } }, /^student: give either torchscript or arch\/weights, not both$/);
});

test('docs/cli.md agrees with the declarations: its example config is accepted, its key / flag table maps as declared', () => {
  const doc = fs.readFileSync(path.join(root, 'docs', 'cli.md'), 'utf8');
  const example = JSON.parse(/```json\n([\s\S]*?)```/.exec(doc)[1]);
  const file = path.join(fs.mkdtempSync(path.join(work, 'doc-')), 'run.json');
  fs.writeFileSync(file, JSON.stringify(example));
  const c = runConfig('distill', new Map([['config', file]]));
  assert.deepEqual(c.loss, example.loss);
  assert.deepEqual(c.optimizer, example.optimizer);
  const rows = [...doc.matchAll(/^\| `([\w.]+)` \/ `--([\w-]+)` \|/gm)];
  assert.ok(rows.length >= 10, `${rows.length} rows`);
  for (const [, key, name] of rows) assert.equal(FLAGS.find((f) => f.name === name && f.key)?.key, key, `--${name}`);
});
