// The training loop users run: batches from a resumable source, a learning-rate schedule, periodic
// validation, atomic checkpoints, progress and a JSON-lines log, and a clean stop on an AbortSignal.
import fs from 'node:fs';
import path from 'node:path';
import type { StepLosses } from '../addon-types';
import type { Dataset } from '../data/datasets';
import { KDSError } from '../errors';
import type { Model } from '../models';
import { defaultCudnnBenchmarkForDevice } from '../runtime';
import type { OptimizerOptions } from '../session-options';
import type { TensorLike } from '../tensor';
import { checkOptions, invalidParameterError, isPlainObject, nonNegativeInt, optionalFunction, positiveInt } from '../validate';
import { datasetSource, datasetValidator, isDataset, SamplingOptions } from './data';
import { JsonlLog, StepRecord, ValidationRecord } from './log';
import { createProgress, Progress, ProgressMode, TextStream } from './progress';
import { createSchedule, Schedule, ScheduleOptions } from './schedule';
import { BatchSource, disposeBatch, isBatchSource } from './source';
import type { Validator } from './validator';

export type { ValidationScores, Validator } from './validator';

/**
 * What fit needs of a session. KDS has it; it is declared here, below kds.ts, so that fit does not import
 * the class that calls it.
 */
export interface FitSession {
  readonly student: Model | undefined;
  readonly device: string;
  readonly rank: number;
  setOptimizer(options: OptimizerOptions): unknown;
  train(lr: TensorLike, hr: TensorLike): Promise<StepLosses>;
  saveStudentModel(path: string): Promise<void>;
  setEma(decay: number): unknown;
  withAveragedWeights<T>(fn: () => Promise<T> | T): Promise<T>;
  saveCheckpoint(path: string, extra?: unknown): Promise<void>;
  loadCheckpoint(path: string): Promise<unknown>;
}

export interface FitOptions extends SamplingOptions {
  /**
   * Training data: a Dataset (random patches from the data pipeline's sampler, with `patchSize`,
   * `batchSize`, `seed`, `augment` and `prefetch`), or any resumable {@link BatchSource}.
   */
  train: Dataset | BatchSource;
  /** Validation: a Dataset (PSNR/SSIM on Y, bicubic beside it) or a function that scores the student. Optional. */
  val?: Dataset | Validator;
  /** Total optimiser steps of the run (a resumed run counts the steps before its checkpoint). */
  steps: number;
  /** Learning-rate schedule. Default: multistep, lr 1e-4 halved at 50% and 75% of the steps. */
  schedule?: ScheduleOptions;
  /** Adam's other settings (betas, eps, weightDecay); the learning rate comes from the schedule. */
  optimizer?: Omit<OptimizerOptions, 'lr'>;
  /**
   * Keep a moving average of the student's weights with this decay (see KDS.setEma), e.g. 0.995 for runs
   * of a few thousand steps: validation, best.pt and student.pt then use the average. Default: off.
   */
  ema?: number;
  /** Validate every this many steps (and after the last step). 0 (default): only after the last step. */
  validateEvery?: number;
  /** Where checkpoint.pt, log.jsonl, student.pt and best.pt go. Without it nothing is written. */
  outDir?: string;
  /** Write outDir/checkpoint.pt every this many steps (and at the end, and on abort). Default 1000. */
  checkpointEvery?: number;
  /** true: continue from outDir/checkpoint.pt when it exists; a string: continue from that checkpoint. */
  resume?: boolean | string;
  /** Stops after the step in flight and writes a checkpoint. */
  signal?: AbortSignal;
  /** Terminal progress. Default 'none'; 'auto' draws a bar on a terminal and plain lines elsewhere. */
  progress?: ProgressMode;
  /** Where progress goes. Default process.stderr. */
  progressStream?: TextStream;
  /** Called after every step. */
  onStep?: (record: StepRecord) => void;
  /** Called after every validation. */
  onValidation?: (record: ValidationRecord) => void;
  /** Called after every checkpoint is written. */
  onCheckpoint?: (info: { step: number; path: string }) => void;
  /** Anything JSON to keep in the checkpoint (e.g. what the run was made from). */
  meta?: unknown;
}

export interface FitResult {
  /** Steps done in total (including those before a resume). */
  step: number;
  /** The step this process started from (0, or the checkpoint's step). */
  startStep: number;
  /** True when the signal stopped the run before `steps`. */
  aborted: boolean;
  /** Losses of the last step this process ran. */
  last?: StepLosses;
  /** Validations of this process. */
  validations: ValidationRecord[];
  /** The best validation of the whole run (kept across resumes). */
  best?: { step: number; psnr: number; ssim: number };
  /** Seconds spent in training steps by this process, and their rate. */
  trainSeconds: number;
  stepsPerSecond: number;
  checkpoint?: string;
  log?: string;
  student?: string;
}

/** What fit keeps in a checkpoint's `extra`. */
interface FitState {
  kind: 'kds-fit';
  version: 1;
  step: number;
  schedule: unknown;
  source: unknown;
  best: FitResult['best'] | null;
  meta: unknown;
}

const OPTION_KEYS = [
  'train', 'val', 'steps', 'schedule', 'optimizer', 'validateEvery', 'outDir', 'checkpointEvery', 'resume', 'signal',
  'progress', 'progressStream', 'onStep', 'onValidation', 'onCheckpoint', 'meta', 'patchSize', 'batchSize', 'seed', 'augment',
  'prefetch', 'ema',
];
const SAMPLING_KEYS = ['patchSize', 'batchSize', 'seed', 'augment', 'prefetch'] as const;

/** fit's options, checked, with the defaults filled in. */
interface FitSettings {
  options: FitOptions;
  steps: number;
  schedule: Schedule;
  optimizer: Omit<OptimizerOptions, 'lr'>;
  validateEvery: number;
  checkpointEvery: number;
  outDir: string | undefined;
  checkpointPath: string | undefined;
}

/**
 * Runs `steps` training steps of `kds` (teacher, student and loss already set). See {@link FitOptions}.
 * On CPU with one thread, a run resumed from a checkpoint produces the same losses as an uninterrupted one.
 * In a distributed run (kds.setDistributed) every rank calls fit with the same options: a dataset is
 * sampled with seed + rank (so the ranks' batches differ), and only rank 0 writes files and progress.
 */
export async function fit(kds: FitSession, options: FitOptions): Promise<FitResult> {
  const settings = readFitOptions(kds, options);
  kds.setOptimizer({ ...settings.optimizer, lr: settings.schedule.rate(1) }); // checks the options before anything runs
  defaultCudnnBenchmarkForDevice(kds.device); // fixed-size patches: autotuned convolutions pay off on CUDA
  if (settings.outDir !== undefined) prepareOutDir(settings.outDir);
  const resumeFrom = resumePath(options.resume, settings.checkpointPath);
  const source = trainingSource(options, kds.rank);
  const validator = isDataset(options.val) ? datasetValidator(options.val) : options.val;
  const start = resumeFrom !== undefined ? await restoreFitState(kds, resumeFrom, settings, source) : { step: 0, best: undefined };
  const run = new FitRun(kds, settings, source, validator, resumeFrom, start);
  try {
    return await run.loop();
  } finally {
    run.close();
  }
}

/** Checks every option (and that the session has a student) before anything runs or is written. */
function readFitOptions(kds: FitSession, options: FitOptions): FitSettings {
  if (!isPlainObject(options)) throw invalidParameterError('fit options', 'an object', options);
  checkOptions(options, 'fit options', OPTION_KEYS);
  if (!isDataset(options.train) && !isBatchSource(options.train))
    throw invalidParameterError('train', 'a dataset or a batch source { next, state, restore }', options.train);
  if (!isDataset(options.train))
    for (const key of SAMPLING_KEYS)
      if (options[key] !== undefined) throw new KDSError('E_ARG', `${key} is a sampling option: it needs train to be a dataset, not a batch source`);
  const steps = positiveInt(options.steps, 'steps');
  if (options.val !== undefined && !isDataset(options.val)) optionalFunction(options.val, 'val');
  optionalFunction(options.onStep, 'onStep');
  optionalFunction(options.onValidation, 'onValidation');
  optionalFunction(options.onCheckpoint, 'onCheckpoint');
  if (!kds.student) throw new KDSError('E_STATE', 'fit(): set a student first (setStudent)');
  const schedule = createSchedule(options.schedule, steps);
  const validateEvery = nonNegativeInt(options.validateEvery ?? 0, 'validateEvery');
  const checkpointEvery = nonNegativeInt(options.checkpointEvery ?? 1000, 'checkpointEvery');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw invalidParameterError('signal', 'an AbortSignal', options.signal);
  const optimizer = options.optimizer ?? {};
  if (typeof optimizer !== 'object' || optimizer === null || 'lr' in optimizer)
    throw invalidParameterError('optimizer', 'an object without lr (the schedule sets it)', optimizer);
  const outDir = options.outDir;
  if (outDir !== undefined && (typeof outDir !== 'string' || outDir.length === 0)) throw invalidParameterError('outDir', 'a non-empty path', outDir);
  const resume = options.resume;
  if (resume !== undefined && typeof resume !== 'boolean' && typeof resume !== 'string')
    throw invalidParameterError('resume', 'a boolean or a checkpoint path', resume);
  const checkpointPath = outDir !== undefined ? path.join(outDir, 'checkpoint.pt') : undefined;
  if (options.ema !== undefined) kds.setEma(options.ema); // before a resume, which restores the average
  return { options, steps, schedule, optimizer, validateEvery, checkpointEvery, outDir, checkpointPath };
}

/** Creates the output folder and removes temporary files left by checkpoint writes of killed processes. */
function prepareOutDir(outDir: string): void {
  try {
    fs.mkdirSync(outDir, { recursive: true });
  } catch (err) {
    throw new KDSError('E_FILE', `cannot create the output folder '${outDir}': ${(err as Error).message}`, { cause: err });
  }
  for (const name of fs.readdirSync(outDir))
    if (/\.pt\.tmp-\d+-\d+$/.test(name) && !name.includes(`.tmp-${process.pid}-`)) fs.rmSync(path.join(outDir, name), { force: true });
}

/** The checkpoint to resume from, if any: `resume` itself, or outDir/checkpoint.pt when it exists. */
function resumePath(resume: FitOptions['resume'], checkpointPath: string | undefined): string | undefined {
  if (typeof resume === 'string') return resume;
  if (resume !== true) return undefined;
  if (!checkpointPath) throw new KDSError('E_ARG', 'resume: true needs outDir (it resumes from outDir/checkpoint.pt)');
  return fs.existsSync(checkpointPath) ? checkpointPath : undefined;
}

// Each rank its own patches; rank 0 as a single process would (and a bad seed is reported as given).
function rankSeed(seed: number | undefined, rank: number): number | undefined {
  return rank > 0 && typeof seed === 'number' ? seed + rank : seed;
}

/** The training batches: random patches of a dataset (seed + rank), or the user's source. */
function trainingSource(options: FitOptions, rank: number): BatchSource {
  if (!isDataset(options.train)) return options.train;
  const { patchSize, batchSize, seed, augment, prefetch } = options;
  return datasetSource(options.train, { patchSize, batchSize, seed: rankSeed(seed ?? 1, rank), augment, prefetch });
}

/** Loads a fit checkpoint into the session and the source; resolves to the step and best score it holds. */
async function restoreFitState(
  kds: FitSession, resumeFrom: string, settings: FitSettings, source: BatchSource,
): Promise<{ step: number; best: FitResult['best'] | undefined }> {
  const { schedule, steps, options } = settings;
  const state = (await kds.loadCheckpoint(resumeFrom)) as Partial<FitState> | null;
  if (!state || state.kind !== 'kds-fit' || !Number.isInteger(state.step))
    throw new KDSError('E_FILE', `'${resumeFrom}' is not a checkpoint written by fit (it has no fit state)`);
  if (JSON.stringify(state.schedule) !== JSON.stringify(schedule.options))
    throw new KDSError(
      'E_STATE',
      `cannot resume from '${resumeFrom}': it was trained with the schedule ${JSON.stringify(state.schedule)} but this run's is ${JSON.stringify(schedule.options)}`,
    );
  if ((state.step as number) > steps)
    throw new KDSError('E_STATE', `cannot resume from '${resumeFrom}': it is at step ${state.step}, beyond this run's ${steps} steps`);
  // The checkpoint holds rank 0's sampler state; the other ranks are at the same batch of their own seed.
  const rank = kds.rank;
  const sourceState = rank > 0 && isDataset(options.train) ? { ...(state.source as object), seed: rankSeed(options.seed ?? 1, rank) } : state.source;
  await source.restore(sourceState);
  return { step: state.step as number, best: state.best ?? undefined };
}

/** One run of fit: the step loop and what it writes (log, progress, checkpoints, validations, the student). */
class FitRun {
  step: number;
  readonly startStep: number;
  best: FitResult['best'] | undefined;
  last: StepLosses | undefined;
  lastPsnr: number | undefined;
  trainSeconds = 0;
  lastCheckpointStep: number;
  currentLr = Number.NaN;
  readonly validations: ValidationRecord[] = [];
  // Every rank holds the same weights; one writes them. Validation still runs on every rank (same scores),
  // so no rank waits in the next step's all-reduce, longer than its timeout, for rank 0 to validate.
  readonly writes: boolean;
  readonly log: JsonlLog | undefined;
  readonly progress: Progress;
  readonly started = Date.now();

  constructor(
    readonly kds: FitSession,
    readonly settings: FitSettings,
    readonly source: BatchSource,
    readonly validator: Validator | undefined,
    readonly resumeFrom: string | undefined,
    start: { step: number; best: FitResult['best'] | undefined },
  ) {
    const { outDir, checkpointPath, steps, schedule, options } = settings;
    this.step = this.startStep = start.step;
    this.best = start.best;
    this.lastPsnr = start.best?.psnr;
    this.lastCheckpointStep = resumeFrom !== undefined && resumeFrom === checkpointPath ? start.step : -1;
    this.writes = kds.rank === 0;
    const resumed = resumeFrom !== undefined;
    this.log = outDir !== undefined && this.writes ? new JsonlLog(path.join(outDir, 'log.jsonl'), resumed ? start.step : undefined) : undefined;
    this.progress = createProgress(this.writes ? (options.progress ?? 'none') : 'none', options.progressStream);
    this.log?.write({ type: resumed ? 'resume' : 'start', step: this.step, time: 0, steps, schedule: schedule.options, from: resumeFrom ?? null });
    if (resumed) this.progress.note(`resumed from '${resumeFrom}' at step ${this.step}/${steps}`);
  }

  seconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  stepsPerSecond(): number {
    return (this.step - this.startStep) / Math.max(this.trainSeconds, 1e-9);
  }

  /** Steps until `steps` or the signal; validates and checkpoints on the way; writes the student at the end. */
  async loop(): Promise<FitResult> {
    const { steps, validateEvery, checkpointEvery, options } = this.settings;
    let aborted = false;
    while (this.step < steps) {
      if (options.signal?.aborted) {
        aborted = true;
        break;
      }
      await this.trainStep();
      if ((validateEvery > 0 && this.step % validateEvery === 0) || this.step === steps) await this.validate();
      if ((checkpointEvery > 0 && this.step % checkpointEvery === 0) || this.step === steps) await this.writeCheckpoint();
    }
    if (aborted) {
      this.progress.note(`stopped at step ${this.step}/${steps}`);
      await this.writeCheckpoint();
    }
    const student = await this.writeStudent();
    this.log?.write({ type: 'end', step: this.step, time: this.seconds(), aborted, best: this.best ?? null });
    return {
      step: this.step,
      startStep: this.startStep,
      aborted,
      last: this.last,
      validations: this.validations,
      best: this.best,
      trainSeconds: this.trainSeconds,
      stepsPerSecond: this.stepsPerSecond(),
      checkpoint: this.lastCheckpointStep >= 0 ? this.settings.checkpointPath : undefined,
      log: this.log?.path,
      student,
    };
  }

  /** One optimiser step at the schedule's rate, then its log line, progress and onStep. */
  async trainStep(): Promise<void> {
    const { schedule, optimizer, steps, options } = this.settings;
    const lr = schedule.rate(this.step + 1);
    if (lr !== this.currentLr) {
      this.kds.setOptimizer({ ...optimizer, lr });
      this.currentLr = lr;
    }
    const batch = await this.source.next();
    const t0 = Date.now();
    let last: StepLosses;
    try {
      last = await this.kds.train(batch.lr, batch.hr);
    } finally {
      disposeBatch(batch);
    }
    this.last = last;
    this.trainSeconds += (Date.now() - t0) / 1000;
    this.step++;
    const step = this.step;
    const record: StepRecord = { type: 'step', step, lr, total: last.total, DS: last.DS, TS: last.TS, SA: last.SA, parts: last.parts, ...(last.skipped ? { skipped: true as const } : {}), time: this.seconds() };
    this.log?.write(record);
    this.progress.step({ step, totalSteps: steps, stepsPerSecond: this.stepsPerSecond(), lr, losses: last, lastPsnr: this.lastPsnr });
    options.onStep?.(record);
  }

  /** Scores the student; a new best is written to outDir/best.pt. */
  async validate(): Promise<void> {
    if (!this.validator) return;
    const { outDir, options } = this.settings;
    const step = this.step;
    // With a weight average the average is what gets validated (and saved as best.pt and student.pt).
    const validator = this.validator;
    const scores = await this.kds.withAveragedWeights(() => validator(this.kds.student as Model));
    const record: ValidationRecord = { type: 'validation', step, psnr: scores.psnr, ssim: scores.ssim, time: this.seconds() };
    if (scores.bicubic) record.bicubic = { psnr: scores.bicubic.psnr, ssim: scores.bicubic.ssim };
    this.validations.push(record);
    this.lastPsnr = record.psnr;
    this.log?.write(record);
    const improved = !this.best || record.psnr > this.best.psnr;
    if (improved) this.best = { step, psnr: record.psnr, ssim: record.ssim };
    if (improved && outDir !== undefined && this.writes) await this.kds.saveStudentModel(path.join(outDir, 'best.pt'));
    const bicubic = record.bicubic ? `  (bicubic ${record.bicubic.psnr.toFixed(3)} dB)` : '';
    this.progress.note(`validation at step ${step}: PSNR ${record.psnr.toFixed(3)} dB  SSIM ${record.ssim.toFixed(4)}${bicubic}`);
    options.onValidation?.(record);
  }

  /** outDir/checkpoint.pt with the fit state (once per step). */
  async writeCheckpoint(): Promise<void> {
    const { checkpointPath, schedule, options } = this.settings;
    const step = this.step;
    if (!checkpointPath || !this.writes || this.lastCheckpointStep === step) return;
    const state: FitState = { kind: 'kds-fit', version: 1, step, schedule: schedule.options, source: this.source.state(), best: this.best ?? null, meta: options.meta ?? null };
    await this.kds.saveCheckpoint(checkpointPath, state);
    this.lastCheckpointStep = step;
    this.log?.write({ type: 'checkpoint', step, time: this.seconds(), path: checkpointPath });
    options.onCheckpoint?.({ step, path: checkpointPath });
  }

  /** outDir/student.pt once the run reached `steps`. */
  async writeStudent(): Promise<string | undefined> {
    const { outDir, steps } = this.settings;
    if (outDir === undefined || !this.writes || this.step !== steps) return undefined;
    const studentPath = path.join(outDir, 'student.pt');
    await this.kds.saveStudentModel(studentPath);
    return studentPath;
  }

  close(): void {
    this.progress.end();
    this.log?.close();
    this.source.close?.();
  }
}
