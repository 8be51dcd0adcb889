// The training loop users run: batches from a resumable source, a learning-rate schedule, periodic
// validation, atomic checkpoints, progress and a JSON-lines log, and a clean stop on an AbortSignal.
import fs from 'node:fs';
import path from 'node:path';
import { KDSError } from '../errors';
import type { KDS, OptimizerOptions, StepLosses } from '../kds';
import type { Model } from '../models';
import { defaultCudnnBenchmarkForDevice } from '../runtime';
import { describe } from '../tensor';
import { JsonlLog, StepRecord, ValidationRecord } from './log';
import { createProgress, ProgressMode, TextStream } from './progress';
import { createSchedule, ScheduleOptions } from './schedule';
import { BatchSource, disposeBatch, isBatchSource } from './source';
import { datasetSource, datasetValidator, isDataset, SamplingOptions } from './data';
import type { Dataset } from '../data/datasets';

/** Scores of the student on validation images. */
export interface ValidationScores {
  psnr: number;
  ssim: number;
  bicubic?: { psnr: number; ssim: number };
}

/** Measures the student; fit calls it between steps (the student is not training then). */
export type Validator = (student: Model) => Promise<ValidationScores>;

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
  'prefetch',
];
const SAMPLING_KEYS = ['patchSize', 'batchSize', 'seed', 'augment', 'prefetch'] as const;

function nonNegativeInt(value: unknown, name: string): number {
  if (!Number.isInteger(value) || (value as number) < 0) throw new KDSError('E_ARG', `${name} must be an integer >= 0, got ${describe(value)}`);
  return value as number;
}

function optionalFunction(value: unknown, name: string): void {
  if (value !== undefined && typeof value !== 'function') throw new KDSError('E_ARG', `${name} must be a function, got ${describe(value)}`);
}

/** Removes temporary files left by checkpoint writes of processes that were killed. */
function removeStaleTemporaries(dir: string): void {
  for (const name of fs.readdirSync(dir))
    if (/\.pt\.tmp-\d+-\d+$/.test(name) && !name.includes(`.tmp-${process.pid}-`)) fs.rmSync(path.join(dir, name), { force: true });
}

/**
 * Runs `steps` training steps of `kds` (teacher, student and loss already set). See {@link FitOptions}.
 * On CPU with one thread, a run resumed from a checkpoint produces the same losses as an uninterrupted one.
 * In a distributed run (kds.setDistributed) every rank calls fit with the same options: a dataset is
 * sampled with seed + rank (so the ranks' batches differ), and only rank 0 writes files and progress.
 */
export async function fit(kds: KDS, options: FitOptions): Promise<FitResult> {
  if (typeof options !== 'object' || options === null) throw new KDSError('E_ARG', `fit options must be an object, got ${describe(options)}`);
  for (const key of Object.keys(options))
    if (!OPTION_KEYS.includes(key)) throw new KDSError('E_ARG', `unknown fit option '${key}': expected ${OPTION_KEYS.join(', ')}`);
  if (!isDataset(options.train) && !isBatchSource(options.train))
    throw new KDSError('E_ARG', `train must be a dataset or a batch source { next, state, restore }, got ${describe(options.train)}`);
  if (!isDataset(options.train))
    for (const key of SAMPLING_KEYS)
      if (options[key] !== undefined) throw new KDSError('E_ARG', `${key} is a sampling option: it needs train to be a dataset, not a batch source`);
  if (!Number.isInteger(options.steps) || options.steps < 1) throw new KDSError('E_ARG', `steps must be a positive integer, got ${describe(options.steps)}`);
  if (options.val !== undefined && !isDataset(options.val)) optionalFunction(options.val, 'val');
  optionalFunction(options.onStep, 'onStep');
  optionalFunction(options.onValidation, 'onValidation');
  optionalFunction(options.onCheckpoint, 'onCheckpoint');
  if (!kds.student) throw new KDSError('E_STATE', 'fit(): set a student first (setStudent)');
  const steps = options.steps;
  const schedule = createSchedule(options.schedule, steps);
  const validateEvery = nonNegativeInt(options.validateEvery ?? 0, 'validateEvery');
  const checkpointEvery = nonNegativeInt(options.checkpointEvery ?? 1000, 'checkpointEvery');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal))
    throw new KDSError('E_ARG', `signal must be an AbortSignal, got ${describe(options.signal)}`);
  const optimizer = options.optimizer ?? {};
  if (typeof optimizer !== 'object' || optimizer === null || 'lr' in optimizer)
    throw new KDSError('E_ARG', `optimizer must be an object without lr (the schedule sets it), got ${describe(optimizer)}`);
  kds.setOptimizer({ ...optimizer, lr: schedule.rate(1) }); // checks the options before anything runs
  defaultCudnnBenchmarkForDevice(kds.device); // fixed-size patches: autotuned convolutions pay off on CUDA

  const outDir = options.outDir;
  if (outDir !== undefined) {
    if (typeof outDir !== 'string' || outDir.length === 0) throw new KDSError('E_ARG', `outDir must be a non-empty path, got ${describe(outDir)}`);
    try {
      fs.mkdirSync(outDir, { recursive: true });
    } catch (err) {
      throw new KDSError('E_FILE', `cannot create the output folder '${outDir}': ${(err as Error).message}`, { cause: err });
    }
    removeStaleTemporaries(outDir);
  }
  const checkpointPath = outDir !== undefined ? path.join(outDir, 'checkpoint.pt') : undefined;
  const rank = kds.rank;
  // Every rank holds the same weights; one writes them. Validation still runs on every rank (same scores),
  // so no rank waits in the next step's all-reduce, longer than its timeout, for rank 0 to validate.
  const writes = rank === 0;

  let resumeFrom: string | undefined;
  if (typeof options.resume === 'string') resumeFrom = options.resume;
  else if (options.resume === true) {
    if (!checkpointPath) throw new KDSError('E_ARG', 'resume: true needs outDir (it resumes from outDir/checkpoint.pt)');
    if (fs.existsSync(checkpointPath)) resumeFrom = checkpointPath;
  } else if (options.resume !== undefined && options.resume !== false)
    throw new KDSError('E_ARG', `resume must be a boolean or a checkpoint path, got ${describe(options.resume)}`);

  const { patchSize, batchSize, seed, augment, prefetch } = options;
  // Each rank its own patches; rank 0 as a single process would (and a bad seed is reported as given).
  const rankSeed = (base: number | undefined) => (rank > 0 && typeof base === 'number' ? base + rank : base);
  const source = isDataset(options.train)
    ? datasetSource(options.train, { patchSize, batchSize, seed: rankSeed(seed ?? 1), augment, prefetch })
    : options.train;
  const validator = isDataset(options.val) ? datasetValidator(options.val) : options.val;
  let step = 0;
  let best: FitResult['best'] | undefined;
  if (resumeFrom !== undefined) {
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
    const sourceState = rank > 0 && isDataset(options.train) ? { ...(state.source as object), seed: rankSeed(seed ?? 1) } : state.source;
    await source.restore(sourceState);
    step = state.step as number;
    best = state.best ?? undefined;
  }
  const startStep = step;

  const log = outDir !== undefined && writes ? new JsonlLog(path.join(outDir, 'log.jsonl'), resumeFrom !== undefined ? startStep : undefined) : undefined;
  const progress = createProgress(writes ? (options.progress ?? 'none') : 'none', options.progressStream);
  const started = Date.now();
  const seconds = () => (Date.now() - started) / 1000;
  log?.write({ type: resumeFrom !== undefined ? 'resume' : 'start', step, time: 0, steps, schedule: schedule.options, from: resumeFrom ?? null });
  if (resumeFrom !== undefined) progress.note(`resumed from '${resumeFrom}' at step ${step}/${steps}`);

  let trainSeconds = 0;
  let last: StepLosses | undefined;
  let lastPsnr: number | undefined = best?.psnr;
  let lastCheckpointStep = resumeFrom !== undefined && resumeFrom === checkpointPath ? startStep : -1;
  let currentLr = Number.NaN;
  const validations: ValidationRecord[] = [];

  const writeCheckpoint = async () => {
    if (!checkpointPath || !writes || lastCheckpointStep === step) return;
    const state: FitState = { kind: 'kds-fit', version: 1, step, schedule: schedule.options, source: source.state(), best: best ?? null, meta: options.meta ?? null };
    await kds.saveCheckpoint(checkpointPath, state);
    lastCheckpointStep = step;
    log?.write({ type: 'checkpoint', step, time: seconds(), path: checkpointPath });
    options.onCheckpoint?.({ step, path: checkpointPath });
  };

  const validate = async () => {
    if (!validator) return;
    const scores = await validator(kds.student as Model);
    const record: ValidationRecord = { type: 'validation', step, psnr: scores.psnr, ssim: scores.ssim, time: seconds() };
    if (scores.bicubic) record.bicubic = { psnr: scores.bicubic.psnr, ssim: scores.bicubic.ssim };
    validations.push(record);
    lastPsnr = record.psnr;
    log?.write(record);
    const improved = !best || record.psnr > best.psnr;
    if (improved) best = { step, psnr: record.psnr, ssim: record.ssim };
    if (improved && outDir !== undefined && writes) await kds.saveStudentModel(path.join(outDir, 'best.pt'));
    const bicubic = record.bicubic ? `  (bicubic ${record.bicubic.psnr.toFixed(3)} dB)` : '';
    progress.note(`validation at step ${step}: PSNR ${record.psnr.toFixed(3)} dB  SSIM ${record.ssim.toFixed(4)}${bicubic}`);
    options.onValidation?.(record);
  };

  let aborted = false;
  try {
    while (step < steps) {
      if (options.signal?.aborted) {
        aborted = true;
        break;
      }
      const lr = schedule.rate(step + 1);
      if (lr !== currentLr) {
        kds.setOptimizer({ ...optimizer, lr });
        currentLr = lr;
      }
      const batch = await source.next();
      const t0 = Date.now();
      try {
        last = await kds.train(batch.lr, batch.hr);
      } finally {
        disposeBatch(batch);
      }
      trainSeconds += (Date.now() - t0) / 1000;
      step++;
      const record: StepRecord = { type: 'step', step, lr, total: last.total, DS: last.DS, TS: last.TS, SA: last.SA, ...(last.skipped ? { skipped: true as const } : {}), time: seconds() };
      log?.write(record);
      progress.step({ step, totalSteps: steps, stepsPerSecond: (step - startStep) / Math.max(trainSeconds, 1e-9), lr, losses: last, lastPsnr });
      options.onStep?.(record);
      if ((validateEvery > 0 && step % validateEvery === 0) || step === steps) await validate();
      if ((checkpointEvery > 0 && step % checkpointEvery === 0) || step === steps) await writeCheckpoint();
    }
    if (aborted) {
      progress.note(`stopped at step ${step}/${steps}`);
      await writeCheckpoint();
    }
    let studentPath: string | undefined;
    if (outDir !== undefined && writes && step === steps) {
      studentPath = path.join(outDir, 'student.pt');
      await kds.saveStudentModel(studentPath);
    }
    log?.write({ type: 'end', step, time: seconds(), aborted, best: best ?? null });
    return {
      step,
      startStep,
      aborted,
      last,
      validations,
      best,
      trainSeconds,
      stepsPerSecond: (step - startStep) / Math.max(trainSeconds, 1e-9),
      checkpoint: lastCheckpointStep >= 0 ? checkpointPath : undefined,
      log: log?.path,
      student: studentPath,
    };
  } finally {
    progress.end();
    log?.close();
    source.close?.();
  }
}
