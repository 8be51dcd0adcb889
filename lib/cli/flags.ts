// Every flag of every `kds` command, and every key of the run config file, declared once. Help text
// (with defaults), flag parsing, config-file reading, merging flags over the file, defaults, value checks
// and the unknown-key checks all read this table; see docs/cli.md and "Adding a CLI flag" in the
// contributor notes.
import path from 'node:path';
import { KDSError } from '../errors';
import { parseFeatureSpec } from '../feature-terms';
import type { LossOptions } from '../kds';
import { createSchedule, DEFAULT_LR, ScheduleOptions } from '../train/schedule';
import { invalidParameterError, nonEmptyString, nonNegativeInt, numberInRange, positiveInt, boolean, oneOf } from '../validate';
import { FlagSpec, FlagType, FlagValue, DescribedDefault } from './args';
import { ModelRef, parseArch } from './model-spec';
import { RECIPES } from '../train/study';

export type CommandName = 'distill' | 'train' | 'eval' | 'upscale' | 'info' | 'study' | 'export';
export type RunCommand = 'distill' | 'train';

/** The run description of distill and train: the config file's shape, after flags and defaults. */
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
  optimizer: { betas?: [number, number]; eps?: number; weightDecay?: number; clipGradNorm?: number };
  /** Decay of the moving average of the student's weights; 0: off. */
  ema: number;
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
  teacherPrecision: 'step' | 'fp32' | 'bf16' | 'fp16';
  channelsLast: boolean;
  progress: 'auto' | 'bar' | 'lines' | 'none';
  report: boolean;
}

/** Dotted paths into T ('data.patchSize', 'schedule.milestones'); arrays are leaves, unions give each member's keys. */
type KeyPaths<T> = T extends readonly unknown[]
  ? never
  : T extends object
    ? { [K in keyof T & string]: K | `${K}.${KeyPaths<NonNullable<T[K]>>}` }[keyof T & string]
    : never;

/** A key of the run config file: the compiler rejects a declared key that RunConfig lacks. */
export type RunKey = KeyPaths<RunConfig>;

/** Throws KDSError E_ARG (lib/validate.ts) when `value`, set at config key `name`, is not acceptable. */
export type Check = (value: unknown, name: string) => unknown;

/** A key of the run config file: where it is, which commands read it, its default and its check. */
export interface ConfigKey {
  /** Path in the config file, e.g. 'data.patchSize'. */
  key: RunKey;
  /** How a flag reads it; of a config-only key only 'path' matters (resolved against the config's folder). */
  type?: FlagType;
  commands: readonly RunCommand[];
  default?: FlagValue | DescribedDefault;
  /** Missing after the config and the flags: a usage error. */
  required?: boolean;
  /** None: the library checks the value (schedule, loss, optimizer options). */
  check?: Check;
}

export interface FlagDecl extends FlagSpec {
  commands: readonly CommandName[];
  /** The config key the flag sets (distill/train); none for a flag that steers the command itself. */
  key?: RunKey;
  check?: Check;
  /**
   * The flag replaces the object that holds its key, keeping only these keys of it: `--teacher FILE`
   * drops the config's teacher architecture, `--schedule cosine` the config's multistep milestones.
   */
  keeps?: readonly string[];
  /** Read by the --nproc launcher, not passed on to the ranks. */
  launch?: boolean;
}

const RUN: readonly RunCommand[] = ['distill', 'train'];
const DISTILL: readonly RunCommand[] = ['distill'];
const MODEL: readonly CommandName[] = ['eval', 'upscale', 'export'];
const EXPORT: readonly CommandName[] = ['export'];
const STUDY: readonly CommandName[] = ['study'];

export const DEFAULT_STUDENT = 'edsr-r16f64';

/** --features: the authors' W1*T1+W2*T2 (a config file may instead list the terms; setLoss checks those). */
const featureSpec: Check = (value, name) => (typeof value === 'string' ? parseFeatureSpec(value, name) : value);

/** An architecture string of the model zoo (model-spec.ts parses it). */
const architecture: Check = (value, name) => {
  nonEmptyString(value, name);
  try {
    return parseArch(value as string);
  } catch (err) {
    throw new KDSError('E_ARG', `${name}: ${(err as Error).message}`);
  }
};

export const device: Check = (value, name) => {
  if (typeof value !== 'string' || !/^(cpu|cuda(:\d+)?)$/.test(value)) throw invalidParameterError(name, "'cpu', 'cuda' or 'cuda:N'", value);
  return value;
};

const patchSide: Check = (value, name) => {
  if (!Number.isInteger(value) || (value as number) < 4) throw invalidParameterError(name, 'an integer >= 4', value);
  return value;
};

/** validateEvery and checkpointEvery: a tenth of the run. */
const tenthOfSteps: DescribedDefault = { shown: 'steps/10', of: (s) => Math.max(1, Math.round((s.steps as number) / 10)) };

/** The library's schedule default, as createSchedule fills it in. */
const scheduleDefault = createSchedule(undefined, 100).options.type;

export const FLAGS: readonly FlagDecl[] = [
  // distill and train: the run description
  { name: 'config', type: 'path', value: 'FILE', commands: RUN, help: 'JSON run description; flags override its fields' },
  { name: 'teacher', type: 'path', value: 'FILE', commands: DISTILL, key: 'teacher.weights', keeps: [], check: nonEmptyString, help: 'teacher weights (state dict with --teacher-arch or a .json sidecar) or TorchScript file' },
  { name: 'teacher-arch', type: 'string', value: 'ARCH', commands: DISTILL, key: 'teacher.arch', keeps: ['weights'], check: architecture, help: 'teacher architecture, e.g. edsr-r8f32 or rcan-g10b20f64' },
  {
    name: 'student', type: 'string', value: 'ARCH', commands: RUN, key: 'student.arch', keeps: ['weights'], check: architecture, help: 'student architecture, e.g. edsr-r2f16 or rcan-g10b6f64',
    default: { shown: DEFAULT_STUDENT, of: (s) => ((s.student as { torchscript?: string } | undefined)?.torchscript ? undefined : DEFAULT_STUDENT) },
  },
  { name: 'student-weights', type: 'path', value: 'FILE', commands: RUN, key: 'student.weights', check: nonEmptyString, help: 'initial student weights (state dict)' },
  { name: 'train', type: 'path', value: 'DIR', commands: RUN, key: 'data.train', required: true, check: nonEmptyString, help: 'folder of training photographs' },
  { name: 'val', type: 'path', value: 'DIR', commands: RUN, key: 'data.val', check: nonEmptyString, help: 'folder of validation photographs' },
  { name: 'scale', type: 'int', value: 'S', commands: RUN, key: 'data.scale', default: 2, check: (v, n) => positiveInt(v, n, [2, 3, 4, 8]), help: 'upscaling factor' },
  { name: 'patch-size', type: 'int', value: 'P', commands: RUN, key: 'data.patchSize', default: 48, check: patchSide, help: 'LR patch side' },
  { name: 'batch-size', type: 'int', value: 'B', commands: RUN, key: 'data.batchSize', default: 16, check: positiveInt, help: 'patches per step' },
  { name: 'augment', type: 'boolean', commands: RUN, key: 'data.augment', default: true, check: boolean, help: 'random flips and rotations' },
  { name: 'steps', type: 'int', value: 'N', commands: RUN, key: 'steps', default: 1000, check: positiveInt, help: 'training steps' },
  { name: 'lr', type: 'number', value: 'RATE', commands: RUN, key: 'schedule.lr', default: { shown: DEFAULT_LR }, help: 'peak learning rate' },
  { name: 'schedule', type: 'string', value: 'KIND', commands: RUN, key: 'schedule.type', keeps: ['lr', 'warmup'], default: scheduleDefault, help: 'multistep (halving at 50% and 75%), cosine or constant' },
  { name: 'milestones', type: 'ints', value: 'A,B', commands: RUN, key: 'schedule.milestones', help: 'multistep: steps after which the rate is halved' },
  { name: 'seed', type: 'int', value: 'N', commands: RUN, key: 'seed', default: 1, check: nonNegativeInt, help: 'seed of the student initialisation and the patch sampler' },
  { name: 'warmup', type: 'int', value: 'N', commands: RUN, key: 'schedule.warmup', default: { shown: 0 }, help: 'steps of linear learning-rate warm-up' },
  { name: 'ema', type: 'number', value: 'D', commands: RUN, key: 'ema', default: 0, check: (v, n) => numberInRange(v, n, 0, 1, { max: true }), help: "moving average of the student's weights with decay D (e.g. 0.995; 0: off): validated, saved and checkpointed" },
  { name: 'clip-grad-norm', type: 'number', value: 'X', commands: RUN, key: 'optimizer.clipGradNorm', default: { shown: 'off' }, help: 'clip the gradients\' global L2 norm to X' },
  // distill only: the loss (kds.setLoss applies and checks its defaults)
  { name: 'sa', type: 'boolean', commands: DISTILL, key: 'loss.SA', default: { shown: true }, help: 'spatial-affinity loss' },
  { name: 'ds-weight', type: 'number', value: 'W', commands: DISTILL, key: 'loss.weights.DS', default: { shown: 0.5 }, help: 'weight of L1 to ground truth' },
  { name: 'ts-weight', type: 'number', value: 'W', commands: DISTILL, key: 'loss.weights.TS', default: { shown: 0.5 }, help: 'weight of L1 to the teacher' },
  { name: 'sa-weight', type: 'number', value: 'W', commands: DISTILL, key: 'loss.weights.SA', default: { shown: 1 }, help: 'weight of the SA loss' },
  { name: 'features', type: 'string', value: 'SPEC', commands: DISTILL, key: 'loss.features', default: { shown: '1*SA' }, check: featureSpec, help: "feature terms in the FAKD authors' syntax, e.g. 10*SA+1*AT (docs/losses.md)" },
  { name: 'positions', type: 'ints', value: 'I,J', commands: DISTILL, key: 'loss.positions', default: { shown: 'all' }, help: 'feature positions of the feature terms' },
  // distill and train: running
  { name: 'validate-every', type: 'int', value: 'N', commands: RUN, key: 'validateEvery', default: tenthOfSteps, check: nonNegativeInt, help: 'validate every N steps; 0: only at the end' },
  { name: 'checkpoint-every', type: 'int', value: 'N', commands: RUN, key: 'checkpointEvery', default: tenthOfSteps, check: nonNegativeInt, help: 'checkpoint every N steps; 0: only at the end' },
  { name: 'out', type: 'path', value: 'DIR', commands: RUN, key: 'out', default: { shown: 'runs/<command>', of: (_, command) => path.join('runs', command) }, check: nonEmptyString, help: 'output folder' },
  { name: 'resume', type: 'boolean', commands: RUN, key: 'resume', default: false, check: boolean, help: 'continue from OUT/checkpoint.pt when it exists' },
  { name: 'threads', type: 'int', value: 'N', commands: RUN, key: 'threads', default: { shown: "KDS_NUM_THREADS, else LibTorch's choice" }, check: positiveInt, help: 'LibTorch threads' },
  { name: 'device', type: 'string', value: 'DEV', commands: RUN, key: 'device', default: 'cpu', check: device, help: "'cpu', 'cuda' or 'cuda:N'" },
  { name: 'precision', type: 'string', value: 'P', commands: RUN, key: 'precision', default: 'fp32', check: (v, n) => oneOf(v, n, ['fp32', 'bf16', 'fp16']), help: 'fp32, bf16 or fp16: autocast forward passes (fp16 with loss scaling)' },
  { name: 'teacher-precision', type: 'string', value: 'P', commands: DISTILL, key: 'teacherPrecision', default: 'step', check: (v, n) => oneOf(v, n, ['step', 'fp32', 'bf16', 'fp16']), help: "the teacher forward's own precision: step (the --precision), fp32, bf16 or fp16 (bf16/fp16 need hardware support: AVX512-BF16/AMX or a GPU)" },
  { name: 'channels-last', type: 'boolean', commands: RUN, key: 'channelsLast', default: false, check: boolean, help: 'models and batches in channels-last layout (faster convolutions on NVIDIA GPUs)' },
  { name: 'progress', type: 'string', value: 'MODE', commands: RUN, key: 'progress', default: 'auto', check: (v, n) => oneOf(v, n, ['auto', 'bar', 'lines', 'none']), help: 'auto (a bar on a terminal, lines otherwise), bar, lines or none' },
  { name: 'report', type: 'boolean', commands: RUN, key: 'report', default: true, check: boolean, help: 'write report.md/.html with charts at the end' },
  // distill and train: the data-parallel launcher (launch.ts)
  { name: 'nproc', type: 'int', value: 'N', commands: RUN, launch: true, default: 1, help: 'data-parallel: start N processes on this machine (the global batch is N x --batch-size)' },
  { name: 'nnodes', type: 'int', value: 'N', commands: RUN, launch: true, default: 1, help: 'machines in a multi-node run; run the same command on each' },
  { name: 'node-rank', type: 'int', value: 'I', commands: RUN, launch: true, default: 0, help: "this machine's index in 0..nnodes-1 (node 0 serves the rendezvous)" },
  { name: 'master-addr', type: 'string', value: 'HOST', commands: RUN, launch: true, default: '127.0.0.1', help: 'address of node 0 (required with --nnodes > 1)' },
  { name: 'master-port', type: 'int', value: 'PORT', commands: RUN, launch: true, default: { shown: 'a free port; 29500 with --nnodes > 1' }, help: 'rendezvous port on node 0' },
  // eval and upscale: the model
  { name: 'model', type: 'path', value: 'FILE', commands: MODEL, required: true, help: 'weights (with --arch or a .json sidecar, as kds writes them) or a TorchScript file' },
  { name: 'arch', type: 'string', value: 'ARCH', commands: MODEL, help: 'architecture of the weights, e.g. edsr-r16f64' },
  { name: 'scale', type: 'int', value: 'S', commands: MODEL, default: { shown: "the sidecar's, else 2" }, help: 'upscaling factor' },
  { name: 'tile', type: 'int', value: 'PX', commands: ['eval', 'upscale'], default: { shown: 256 }, help: 'tile side in input pixels, 0: whole image' },
  { name: 'overlap', type: 'int', value: 'PX', commands: ['eval', 'upscale'], default: { shown: 32 }, help: 'context pixels around each tile' },
  { name: 'runtime', type: 'string', value: 'NAME', commands: ['upscale'], default: { shown: 'onnx for .onnx files, else libtorch' }, help: 'libtorch, or onnx to run an .onnx --model with ONNX Runtime' },
  { name: 'format', type: 'string', value: 'FORMAT', commands: EXPORT, default: 'onnx', help: 'onnx (the only format so far)' },
  { name: 'opset', type: 'int', value: 'N', commands: EXPORT, default: { shown: 17 }, help: 'ONNX opset, 13 to 21' },
  { name: 'fp16', type: 'boolean', commands: EXPORT, default: false, help: 'float16 weights and compute (float32 input and output)' },
  { name: 'height', type: 'int', value: 'PX', commands: EXPORT, default: { shown: 'dynamic' }, help: 'fix the input height (with --width)' },
  { name: 'width', type: 'int', value: 'PX', commands: EXPORT, default: { shown: 'dynamic' }, help: 'fix the input width (with --height)' },
  { name: 'threads', type: 'int', value: 'N', commands: MODEL, help: 'LibTorch threads' },
  { name: 'data', type: 'path', value: 'DIR', commands: ['eval'], required: true, help: 'folder of HR photographs (LR made by bicubic downscaling)' },
  { name: 'json', type: 'boolean', commands: ['eval'], help: 'print the result as JSON' },
  { name: 'json', type: 'boolean', commands: ['info'], help: 'print as JSON' },
  // study: recipes x seeds, paired by seed, against scratch (lib/train/study.ts, docs/study.md)
  { name: 'teacher', type: 'path', value: 'FILE', commands: STUDY, required: true, help: 'teacher weights (with --teacher-arch or a .json sidecar) or TorchScript file' },
  { name: 'teacher-arch', type: 'string', value: 'ARCH', commands: STUDY, help: 'teacher architecture, e.g. edsr-r8f32' },
  { name: 'scale', type: 'int', value: 'S', commands: STUDY, default: { shown: "the teacher's sidecar's, else 2" }, help: 'upscaling factor' },
  { name: 'student', type: 'string', value: 'ARCH', commands: STUDY, default: 'edsr-r3f16', help: 'student architecture' },
  { name: 'device', type: 'string', value: 'DEV', commands: STUDY, default: 'cpu', help: "where every run trains: 'cpu', 'cuda' or 'cuda:N'" },
  { name: 'train', type: 'path', value: 'DIR', commands: STUDY, required: true, help: 'folder of training photographs (a validation split is taken out of it)' },
  { name: 'test', type: 'path', value: 'DIR', commands: STUDY, required: true, help: 'folder of held-out photographs: every reported score is measured here, nothing else' },
  { name: 'val-count', type: 'int', value: 'N', commands: STUDY, default: 3, help: 'training photographs moved to the validation split that chooses weights; 0: none (final weights)' },
  { name: 'val-crop', type: 'int', value: 'PX', commands: STUDY, default: 384, help: 'side of the central crop of each validation photograph' },
  { name: 'unlabelled', type: 'path', value: 'DIR', commands: STUDY, help: 'folder of photographs without HR counterparts (recipe unlabelled)' },
  { name: 'recipes', type: 'string', value: 'LIST', commands: STUDY, default: 'ts,fakd', help: `recipes besides scratch: ${Object.keys(RECIPES).join(', ')}` },
  { name: 'recipes-file', type: 'path', value: 'FILE', commands: STUDY, help: 'JSON array of further recipes ({ name, loss, teacherData, teacherPrecision })' },
  { name: 'labelled-ratio', type: 'number', value: 'R', commands: STUDY, default: { shown: 0.5 }, help: 'share of each batch that is teacher-labelled, in [0, 1] (recipes dukd, unlabelled)' },
  { name: 'seeds', type: 'ints', value: 'A,B,...', commands: STUDY, default: [1, 2, 3], help: 'seeds; each gives every recipe the same start and batches' },
  { name: 'steps', type: 'int', value: 'N', commands: STUDY, default: 1000, help: 'training steps per run' },
  { name: 'batch-size', type: 'int', value: 'B', commands: STUDY, default: 8, help: 'patches per step' },
  { name: 'patch-size', type: 'int', value: 'P', commands: STUDY, default: 32, help: 'LR patch side' },
  { name: 'lr', type: 'number', value: 'RATE', commands: STUDY, default: 3e-3, help: 'peak learning rate' },
  { name: 'schedule', type: 'string', value: 'KIND', commands: STUDY, default: 'multistep', help: 'multistep (halving at 50% and 75%), cosine or constant' },
  { name: 'warmup', type: 'int', value: 'N', commands: STUDY, default: { shown: 0 }, help: 'steps of linear learning-rate warm-up' },
  { name: 'ema', type: 'number', value: 'D', commands: STUDY, default: { shown: 'off' }, help: 'moving average of the weights with decay D (e.g. 0.995), used for validation and scores' },
  { name: 'clip-grad-norm', type: 'number', value: 'X', commands: STUDY, default: { shown: 'off' }, help: 'clip the gradient norm to X' },
  { name: 'threads', type: 'int', value: 'N', commands: STUDY, help: 'LibTorch threads' },
  { name: 'out', type: 'path', value: 'DIR', commands: STUDY, default: path.join('runs', 'study'), help: 'output folder' },
  { name: 'resume', type: 'boolean', commands: STUDY, default: true, help: 'keep finished runs and continue unfinished ones (--no-resume starts over)' },
];

/** Keys of the run config file that no flag sets. */
export const CONFIG_KEYS: readonly ConfigKey[] = [
  { key: 'teacher.torchscript', type: 'path', commands: DISTILL, check: nonEmptyString },
  { key: 'student.torchscript', type: 'path', commands: RUN, check: nonEmptyString },
  { key: 'schedule.gamma', commands: RUN },
  { key: 'schedule.minLr', commands: RUN },
  { key: 'optimizer.betas', commands: RUN },
  { key: 'optimizer.eps', commands: RUN },
  { key: 'optimizer.weightDecay', commands: RUN },
];

/** The flags of one command, in help order. */
export function flagsFor(command: CommandName): FlagDecl[] {
  return FLAGS.filter((f) => f.commands.includes(command));
}

/** Every config key one of distill/train reads, flags' keys first, in declaration order. */
export function configKeysFor(command: RunCommand): ConfigKey[] {
  const fromFlags = FLAGS.filter((f) => f.key !== undefined && f.commands.includes(command)).map(
    (f) => ({ key: f.key, type: f.type, commands: f.commands, default: f.default, required: f.required, check: f.check }) as ConfigKey,
  );
  return [...fromFlags, ...CONFIG_KEYS.filter((k) => k.commands.includes(command))];
}
