// The run description of `kds distill` and `kds train`: a JSON file (--config) and flags that override
// it, checked key by key so that a typo is an error, not a silently ignored setting.
import fs from 'node:fs';
import path from 'node:path';
import type { LossOptions } from '../kds';
import type { ScheduleOptions } from '../train/schedule';
import { FlagSpec, FlagValue, UsageError } from './args';
import { ModelRef, parseArch } from './model-spec';

export interface RunConfig {
  teacher?: ModelRef;
  student: ModelRef;
  data: {
    /** Folder of training photographs (LR made by bicubic downscaling). */
    train: string;
    /** Folder of validation photographs. Optional. */
    val?: string;
    scale: number;
    patchSize: number;
    batchSize: number;
    augment: boolean;
  };
  loss: LossOptions;
  optimizer: { betas?: [number, number]; eps?: number; weightDecay?: number };
  schedule: ScheduleOptions;
  steps: number;
  seed: number;
  validateEvery: number;
  checkpointEvery: number;
  out: string;
  resume: boolean;
  threads?: number;
  device: string;
  precision: 'fp32' | 'bf16' | 'fp16';
  channelsLast: boolean;
  progress: 'auto' | 'bar' | 'lines' | 'none';
  report: boolean;
}

/** Flags shared by distill and train; `distillOnly` ones exist for distill alone. */
export const RUN_FLAGS: (FlagSpec & { distillOnly?: boolean })[] = [
  { name: 'config', type: 'string', value: 'FILE', help: 'JSON run description; flags override its fields' },
  { name: 'teacher', type: 'string', value: 'FILE', help: 'teacher weights (state dict with --teacher-arch or a .json sidecar) or TorchScript file', distillOnly: true },
  { name: 'teacher-arch', type: 'string', value: 'ARCH', help: 'teacher architecture, e.g. edsr-r8f32', distillOnly: true },
  { name: 'student', type: 'string', value: 'ARCH', help: 'student architecture, e.g. edsr-r2f16 (default edsr-r16f64)' },
  { name: 'student-weights', type: 'string', value: 'FILE', help: 'initial student weights (state dict)' },
  { name: 'train', type: 'string', value: 'DIR', help: 'folder of training photographs (required)' },
  { name: 'val', type: 'string', value: 'DIR', help: 'folder of validation photographs' },
  { name: 'scale', type: 'int', value: 'S', help: 'upscaling factor (default 2)' },
  { name: 'patch-size', type: 'int', value: 'P', help: 'LR patch side (default 48)' },
  { name: 'batch-size', type: 'int', value: 'B', help: 'patches per step (default 16)' },
  { name: 'augment', type: 'boolean', help: 'random flips and rotations (default on)' },
  { name: 'steps', type: 'int', value: 'N', help: 'training steps (default 1000)' },
  { name: 'lr', type: 'number', value: 'RATE', help: 'peak learning rate (default 1e-4)' },
  { name: 'schedule', type: 'string', value: 'KIND', help: 'multistep (default, halving at 50% and 75%), cosine or constant' },
  { name: 'milestones', type: 'ints', value: 'A,B', help: 'multistep: steps after which the rate is halved' },
  { name: 'seed', type: 'int', value: 'N', help: 'seed of the student initialisation and the patch sampler (default 1)' },
  { name: 'sa', type: 'boolean', help: 'spatial-affinity loss (default on)', distillOnly: true },
  { name: 'ds-weight', type: 'number', value: 'W', help: 'weight of L1 to ground truth (default 0.5)', distillOnly: true },
  { name: 'ts-weight', type: 'number', value: 'W', help: 'weight of L1 to the teacher (default 0.5)', distillOnly: true },
  { name: 'sa-weight', type: 'number', value: 'W', help: 'weight of the SA loss (default 1)', distillOnly: true },
  { name: 'positions', type: 'ints', value: 'I,J', help: 'feature positions for SA (default all)', distillOnly: true },
  { name: 'validate-every', type: 'int', value: 'N', help: 'validate every N steps (default: steps/10); 0: only at the end' },
  { name: 'checkpoint-every', type: 'int', value: 'N', help: 'checkpoint every N steps (default: steps/10)' },
  { name: 'out', type: 'string', value: 'DIR', help: 'output folder (default runs/<command>)' },
  { name: 'resume', type: 'boolean', help: 'continue from OUT/checkpoint.pt when it exists' },
  { name: 'threads', type: 'int', value: 'N', help: 'LibTorch threads (default: LibTorch\'s choice or KDS_NUM_THREADS)' },
  { name: 'device', type: 'string', value: 'DEV', help: "'cpu' (default), 'cuda' or 'cuda:N'" },
  { name: 'precision', type: 'string', value: 'P', help: 'fp32 (default), bf16 or fp16: autocast forward passes (fp16 with loss scaling)' },
  { name: 'channels-last', type: 'boolean', help: 'models and batches in channels-last layout (faster convolutions on NVIDIA GPUs)' },
  { name: 'progress', type: 'string', value: 'MODE', help: 'auto (default: a bar on a terminal, lines otherwise), bar, lines or none' },
  { name: 'report', type: 'boolean', help: 'write report.md/.html with charts at the end (default on)' },
];

const TOP_KEYS = ['teacher', 'student', 'data', 'loss', 'optimizer', 'schedule', 'steps', 'seed', 'validateEvery', 'checkpointEvery', 'out', 'resume', 'threads', 'device', 'precision', 'channelsLast', 'progress', 'report'];
const DATA_KEYS = ['train', 'val', 'scale', 'patchSize', 'batchSize', 'augment'];
const MODEL_KEYS = ['arch', 'weights', 'torchscript'];

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Json, allowed: string[], where: string): void {
  for (const key of Object.keys(obj))
    if (!allowed.includes(key)) throw new UsageError(`${where}: unknown key '${key}' (expected ${allowed.join(', ')})`);
}

function expect(cond: boolean, message: string): void {
  if (!cond) throw new UsageError(message);
}

function readConfig(file: string): Json {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the config '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`the config '${file}' is not valid JSON: ${(err as Error).message}`);
  }
  expect(isObject(body), `the config '${file}' must hold a JSON object`);
  const config = body as Json;
  // Relative paths in a config file are relative to the file.
  const base = path.dirname(path.resolve(file));
  const resolve = (obj: unknown, keys: string[]) => {
    if (!isObject(obj)) return;
    for (const k of keys) if (typeof obj[k] === 'string') obj[k] = path.resolve(base, obj[k] as string);
  };
  resolve(config.teacher, ['weights', 'torchscript']);
  resolve(config.student, ['weights', 'torchscript']);
  resolve(config.data, ['train', 'val']);
  if (typeof config.out === 'string') config.out = path.resolve(base, config.out);
  return config;
}

function modelRef(value: unknown, where: string): ModelRef {
  expect(isObject(value), `${where} must be an object such as { "arch": "edsr-r16f64", "weights": "file.pt" }`);
  const v = value as Json;
  checkKeys(v, MODEL_KEYS, where);
  for (const k of MODEL_KEYS) expect(v[k] === undefined || typeof v[k] === 'string', `${where}.${k} must be a string`);
  if (typeof v.arch === 'string') {
    try {
      parseArch(v.arch);
    } catch (err) {
      throw new UsageError(`${where}.arch: ${(err as Error).message}`);
    }
  }
  expect(!(v.torchscript && (v.arch || v.weights)), `${where}: give either torchscript or arch/weights, not both`);
  return v as ModelRef;
}

/** Builds the run description from the flags (and the config file they name). */
export function runConfig(command: 'distill' | 'train', flags: Map<string, FlagValue>): RunConfig {
  const f = <T extends FlagValue>(name: string) => flags.get(name) as T | undefined;
  const file = f<string>('config');
  const c: Json = file ? readConfig(file) : {};
  checkKeys(c, command === 'train' ? TOP_KEYS.filter((k) => k !== 'teacher') : TOP_KEYS, 'config');
  if (command === 'train' && isObject(c.loss)) throw new UsageError("config: 'loss' is for distill; train uses L1 to the ground truth only");

  // teacher
  let teacher: ModelRef | undefined;
  if (command === 'distill') {
    teacher = c.teacher !== undefined ? modelRef(c.teacher, 'teacher') : {};
    if (f('teacher') !== undefined) teacher = { weights: f<string>('teacher') };
    if (f('teacher-arch') !== undefined) {
      teacher = { ...teacher, arch: f<string>('teacher-arch') };
      delete teacher.torchscript;
    }
    teacher = modelRef(teacher, 'teacher');
    expect(Boolean(teacher.weights || teacher.torchscript), 'distill needs a teacher: --teacher FILE (or "teacher" in the config)');
  }

  // student
  let student = c.student !== undefined ? modelRef(c.student, 'student') : { arch: 'edsr-r16f64' };
  if (f('student') !== undefined) student = { arch: f<string>('student'), weights: student.weights };
  if (f('student-weights') !== undefined) student = { ...student, weights: f<string>('student-weights') };
  student = modelRef(student, 'student');
  expect(Boolean(student.arch || student.torchscript), 'the student needs an architecture (--student edsr-r16f64) or a TorchScript file');

  // data
  const d: Json = c.data === undefined ? {} : (c.data as Json);
  expect(isObject(d), 'config: data must be an object');
  checkKeys(d, DATA_KEYS, 'data');
  const pick = (flag: string, key: string) => (f(flag) !== undefined ? f(flag) : d[key]);
  const train = pick('train', 'train');
  expect(typeof train === 'string' && train.length > 0, 'the training photographs are required: --train DIR (or data.train in the config)');
  const val = pick('val', 'val');
  expect(val === undefined || typeof val === 'string', 'data.val must be a folder path');
  const scale = pick('scale', 'scale') ?? 2;
  expect(Number.isInteger(scale) && [2, 3, 4, 8].includes(scale as number), `scale must be 2, 3, 4 or 8, got ${JSON.stringify(scale)}`);
  const patchSize = pick('patch-size', 'patchSize') ?? 48;
  expect(Number.isInteger(patchSize) && (patchSize as number) >= 4, `patchSize must be an integer >= 4, got ${JSON.stringify(patchSize)}`);
  const batchSize = pick('batch-size', 'batchSize') ?? 16;
  expect(Number.isInteger(batchSize) && (batchSize as number) >= 1, `batchSize must be a positive integer, got ${JSON.stringify(batchSize)}`);
  const augment = pick('augment', 'augment') ?? true;
  expect(typeof augment === 'boolean', 'data.augment must be true or false');

  // loss
  let loss: LossOptions = {};
  if (command === 'train') loss = { SA: false, weights: { DS: 1, TS: 0, SA: 0 } };
  else {
    if (c.loss !== undefined) {
      expect(isObject(c.loss), 'config: loss must be an object such as { "SA": true, "weights": { "DS": 0.5, "TS": 0.5, "SA": 1 } }');
      loss = JSON.parse(JSON.stringify(c.loss)) as LossOptions;
    }
    if (f('sa') !== undefined) loss.SA = f<boolean>('sa');
    const w = { ...(loss.weights ?? {}) };
    if (f('ds-weight') !== undefined) w.DS = f<number>('ds-weight');
    if (f('ts-weight') !== undefined) w.TS = f<number>('ts-weight');
    if (f('sa-weight') !== undefined) w.SA = f<number>('sa-weight');
    if (Object.keys(w).length > 0) loss.weights = w;
    if (f('positions') !== undefined) loss.positions = f<number[]>('positions');
  }

  // optimisation
  const steps = f('steps') ?? c.steps ?? 1000;
  expect(Number.isInteger(steps) && (steps as number) >= 1, `steps must be a positive integer, got ${JSON.stringify(steps)}`);
  const optimizer = c.optimizer ?? {};
  expect(isObject(optimizer), 'config: optimizer must be an object such as { "betas": [0.9, 0.999] }');
  checkKeys(optimizer as Json, ['betas', 'eps', 'weightDecay'], 'optimizer');
  let schedule: Json = c.schedule === undefined ? { type: 'multistep' } : (c.schedule as Json);
  expect(isObject(schedule), "config: schedule must be an object such as { \"type\": \"cosine\" }");
  if (f('schedule') !== undefined) {
    const type = f<string>('schedule');
    expect(['multistep', 'cosine', 'constant'].includes(type as string), `--schedule must be multistep, cosine or constant, got '${type}'`);
    schedule = { type, ...(schedule.lr !== undefined ? { lr: schedule.lr } : {}) };
  }
  schedule = { ...schedule };
  if (f('lr') !== undefined) schedule.lr = f<number>('lr');
  if (f('milestones') !== undefined) {
    expect(schedule.type === 'multistep', '--milestones needs the multistep schedule');
    schedule.milestones = f<number[]>('milestones');
  }
  const seed = f('seed') ?? c.seed ?? 1;
  expect(Number.isSafeInteger(seed) && (seed as number) >= 0, `seed must be an integer >= 0, got ${JSON.stringify(seed)}`);
  const tenth = Math.max(1, Math.round((steps as number) / 10));
  const validateEvery = f('validate-every') ?? c.validateEvery ?? tenth;
  expect(Number.isInteger(validateEvery) && (validateEvery as number) >= 0, `validateEvery must be an integer >= 0, got ${JSON.stringify(validateEvery)}`);
  const checkpointEvery = f('checkpoint-every') ?? c.checkpointEvery ?? tenth;
  expect(Number.isInteger(checkpointEvery) && (checkpointEvery as number) >= 0, `checkpointEvery must be an integer >= 0, got ${JSON.stringify(checkpointEvery)}`);

  // running
  const out = f('out') ?? c.out ?? path.join('runs', command);
  expect(typeof out === 'string' && out.length > 0, 'out must be a folder path');
  const resume = f('resume') ?? c.resume ?? false;
  expect(typeof resume === 'boolean', 'resume must be true or false');
  const threads = f('threads') ?? c.threads;
  expect(threads === undefined || (Number.isInteger(threads) && (threads as number) >= 1), `threads must be a positive integer, got ${JSON.stringify(threads)}`);
  const device = f('device') ?? c.device ?? 'cpu';
  expect(typeof device === 'string' && /^(cpu|cuda(:\d+)?)$/.test(device), `device must be cpu, cuda or cuda:N, got ${JSON.stringify(device)}`);
  const precision = f('precision') ?? c.precision ?? 'fp32';
  expect(['fp32', 'bf16', 'fp16'].includes(precision as string), `precision must be fp32, bf16 or fp16, got ${JSON.stringify(precision)}`);
  const channelsLast = f('channels-last') ?? c.channelsLast ?? false;
  expect(typeof channelsLast === 'boolean', 'channelsLast must be true or false');
  const progress = f('progress') ?? c.progress ?? 'auto';
  expect(['auto', 'bar', 'lines', 'none'].includes(progress as string), `progress must be auto, bar, lines or none, got ${JSON.stringify(progress)}`);
  const report = f('report') ?? c.report ?? true;
  expect(typeof report === 'boolean', 'report must be true or false');

  return {
    teacher,
    student,
    data: { train: train as string, val: val as string | undefined, scale: scale as number, patchSize: patchSize as number, batchSize: batchSize as number, augment: augment as boolean },
    loss,
    optimizer: optimizer as RunConfig['optimizer'],
    schedule: schedule as unknown as ScheduleOptions,
    steps: steps as number,
    seed: seed as number,
    validateEvery: validateEvery as number,
    checkpointEvery: checkpointEvery as number,
    out: out as string,
    resume: resume as boolean,
    threads: threads as number | undefined,
    device: device as string,
    precision: precision as RunConfig['precision'],
    channelsLast: channelsLast as boolean,
    progress: progress as RunConfig['progress'],
    report: report as boolean,
  };
}
