import { distributedOptions, DistributedOptions } from './distributed';
import { awaitNative, callNative, KDSError } from './errors';
import { Model } from './models';
import { native, NativePrecisionOptions, NativeSession } from './native';
import { describe, imageArg, TensorLike } from './tensor';
import { LossOptions, resolveLoss } from './loss-spec';
import { fit, FitOptions, FitResult } from './train/fit';

export type { SAOptions, LossOptions, FeatureTermSpec } from './loss-spec';
/** Adam, as in FAKD: lr 1e-4, betas (0.9, 0.999), eps 1e-8, no weight decay. */
export interface OptimizerOptions {
  type?: 'adam';
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** Arithmetic of the forward passes: 'fp32' (default), or autocast to bfloat16 or float16. */
export type Precision = 'fp32' | 'bf16' | 'fp16';

/**
 * fp16's dynamic loss scaling, as torch.amp.GradScaler (same defaults): the loss is multiplied by the
 * scale before backward and the gradients divided by it; a step whose gradients overflow is skipped and
 * the scale multiplied by backoffFactor; after growthInterval good steps it is multiplied by growthFactor.
 */
export interface PrecisionOptions {
  /** Default 65536 (2^16). */
  initScale?: number;
  /** > 1. Default 2. */
  growthFactor?: number;
  /** In (0, 1). Default 0.5. */
  backoffFactor?: number;
  /** A positive integer. Default 2000. */
  growthInterval?: number;
}

/** Layout of teacher, student and batches: 'contiguous' (NCHW, default) or 'channels_last' (NHWC strides). */
export type MemoryFormat = 'contiguous' | 'channels_last';

/**
 * Wall-clock milliseconds of the phases of one step inside the native core (for benchmarks and
 * profiling). On CUDA a phase ends when its work is queued; reading the losses back synchronises.
 */
export interface StepTimings {
  /** Input checks and copies to the device. */
  prepare: number;
  /** Teacher forward, without autograd (0 when no teacher is needed). */
  teacherForward: number;
  /** Zeroing the gradients and the student forward. */
  studentForward: number;
  /** DS, TS and SA losses, and reading their values back. */
  loss: number;
  /** Backward, and in a distributed run the gradients' all-reduce (which waits for the slowest rank). */
  backward: number;
  /** The gradients' finiteness check and the Adam update. */
  optimizer: number;
  /** The whole native step; the rest of `await train()` is spent in JS, N-API and the thread hand-off. */
  total: number;
}

/** The losses of one step; the parts are unweighted. */
export interface StepLosses {
  total: number;
  DS: number;
  TS: number;
  /** The SA term's value (PSA's when that is the one on, as `{ SA: { pool } }` makes it); 0 when off. */
  SA: number;
  /** Every feature term's unweighted value, by type (e.g. { SA: 0.41, AT: 0.002 }). */
  parts: Record<string, number>;
  /**
   * fp16 only: the gradients overflowed at the current loss scale, so the step was skipped (weights and
   * Adam unchanged, stepCount not advanced) and the scale lowered. Dynamic loss scaling expects this now
   * and then, mostly in the first steps; it is not an error. Always false for fp32 and bf16.
   */
  skipped: boolean;
  /** fp16: the loss scale this step used. 1 for fp32 and bf16. */
  lossScale: number;
  /** Where the step's time went. */
  timings: StepTimings;
}


/**
 * Knowledge distillation for super-resolution, with the seed library's method names:
 * setDevice, setTeacher, setStudent, setLoss, setOptimizer, train(lr, hr), saveStudentModel(path).
 *
 * `train` runs on a worker thread and resolves a Promise; steps of one KDS run one after another in call
 * order. Setters throw E_STATE while a step is in flight (await it first).
 */
export class KDS {
  readonly #session: NativeSession;
  #queue: Promise<unknown> = Promise.resolve();
  #pending = 0;
  #disposed = false;
  #teacher: Model | undefined;
  #student: Model | undefined;
  #precision: Precision = 'fp32';
  #memoryFormat: MemoryFormat = 'contiguous';
  #localRank = 0;

  constructor() {
    this.#session = callNative(() => new (native().NativeSession)());
    callNative(() => this.#session.setLoss(resolveLoss({})));
  }

  /** 'cpu' (default), 'cuda' or 'cuda:N'. Moves teacher and student there. Call before the first step. */
  setDevice(device: string): this {
    this.#checkIdle('setDevice');
    if (typeof device !== 'string') throw new KDSError('E_DEVICE', `device must be a string such as 'cpu' or 'cuda:0', got ${describe(device)}`);
    callNative(() => this.#session.setDevice(device));
    return this;
  }

  get device(): string {
    return this.#session.device ?? 'cpu';
  }

  /** The pretrained teacher; it is run without gradients and never changed. */
  setTeacher(model: Model): this {
    this.#checkIdle('setTeacher');
    checkModel(model, 'teacher');
    callNative(() => this.#session.setTeacher(model.native));
    this.#teacher = model;
    return this;
  }

  /** The student to train (in place). Adam with the current optimizer options is (re)created for it. */
  setStudent(model: Model): this {
    this.#checkIdle('setStudent');
    checkModel(model, 'student');
    callNative(() => this.#session.setStudent(model.native));
    this.#student = model;
    return this;
  }

  get teacher(): Model | undefined {
    return this.#teacher;
  }

  get student(): Model | undefined {
    return this.#student;
  }

  /** Chooses the loss; see {@link LossOptions} for the defaults. */
  setLoss(options: LossOptions = {}): this {
    this.#checkIdle('setLoss');
    callNative(() => this.#session.setLoss(resolveLoss(options)));
    return this;
  }

  /**
   * Mixed precision. 'bf16' and 'fp16' run the teacher and student forward passes under autocast (matrix
   * products and convolutions in 16 bits, as PyTorch's torch.autocast) and compute every loss, the SA
   * loss included, in float32 from float32 copies of the outputs; weights, gradients and Adam's state stay
   * float32. 'fp16' adds dynamic loss scaling ({@link PrecisionOptions}); its state is saved in checkpoints.
   * Both work on CUDA and on the CPU (LibTorch's CPU autocast), though 16-bit gains speed mainly on GPUs
   * (bf16 needs compute capability 8.0 or newer). E_DEVICE when the device cannot autocast.
   * Setting it again resets fp16's loss scale.
   */
  setPrecision(precision: Precision, options: PrecisionOptions = {}): this {
    this.#checkIdle('setPrecision');
    callNative(() => this.#session.setPrecision(precisionOptions(precision, options)));
    this.#precision = precision;
    return this;
  }

  get precision(): Precision {
    return this.#precision;
  }

  /**
   * 'channels_last' gives the teacher's and student's convolution weights and every batch NHWC strides
   * (same values): the layout tensor-core convolutions on NVIDIA GPUs prefer, so it pays off on CUDA,
   * mostly with bf16/fp16. It converts the models in place (later forward calls give the same results).
   * 'contiguous' (default) converts them back.
   */
  setMemoryFormat(format: MemoryFormat): this {
    this.#checkIdle('setMemoryFormat');
    if (format !== 'contiguous' && format !== 'channels_last')
      throw new KDSError('E_ARG', `memory format must be 'contiguous' or 'channels_last', got ${describe(format)}`);
    callNative(() => this.#session.setChannelsLast(format === 'channels_last'));
    this.#memoryFormat = format;
    return this;
  }

  get memoryFormat(): MemoryFormat {
    return this.#memoryFormat;
  }

  /** Adam's hyper-parameters. Changing them keeps Adam's moments. */
  setOptimizer(options: OptimizerOptions = {}): this {
    this.#checkIdle('setOptimizer');
    if (typeof options !== 'object' || options === null) throw new KDSError('E_ARG', `optimizer options must be an object, got ${describe(options)}`);
    for (const key of Object.keys(options))
      if (!['type', 'lr', 'betas', 'eps', 'weightDecay'].includes(key))
        throw new KDSError('E_ARG', `unknown optimizer option '${key}': expected type, lr, betas, eps or weightDecay`);
    if (options.type !== undefined && options.type !== 'adam')
      throw new KDSError('E_ARG', `optimizer type must be 'adam', got ${describe(options.type)}`);
    const betas = options.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => typeof b === 'number' && b >= 0 && b < 1))
      throw new KDSError('E_ARG', `betas must be two numbers in [0, 1), got ${describe(betas)}`);
    const adam = {
      lr: nonNegative(options.lr ?? 1e-4, 'lr'),
      beta1: betas[0],
      beta2: betas[1],
      eps: nonNegative(options.eps ?? 1e-8, 'eps'),
      weightDecay: nonNegative(options.weightDecay ?? 0, 'weightDecay'),
    };
    callNative(() => this.#session.setOptimizer(adam));
    return this;
  }

  /**
   * One step: teacher forward (no autograd), student forward, weighted loss, zeroed gradients, backward,
   * Adam step. `lr` is [n, 3, h, w] and `hr` [n, 3, s*h, s*w], values 0..255. On any error (E_SHAPE,
   * E_NAN, ...) the student's weights and the optimiser state are unchanged.
   */
  train(lr: TensorLike, hr: TensorLike): Promise<StepLosses> {
    return this.#enqueue('train', () => {
      const lrArg = imageArg(lr, 'lr');
      const hrArg = imageArg(hr, 'hr');
      return awaitNative(() => this.#session.train(lrArg, hrArg));
    });
  }

  /**
   * Trains for many steps: a learning-rate schedule, periodic validation, atomic checkpoints, resume,
   * progress and a JSON-lines log. See {@link FitOptions}.
   */
  fit(options: FitOptions): Promise<FitResult> {
    return fit(this, options);
  }

  /** Saves the student atomically: TorchScript students as TorchScript, EDSR students as a state dict. */
  saveStudentModel(path: string): Promise<void> {
    return this.#enqueue('saveStudentModel', () => {
      if (typeof path !== 'string' || path.length === 0) throw new KDSError('E_ARG', `path must be a non-empty string, got ${describe(path)}`);
      return awaitNative(() => this.#session.saveStudent(path));
    });
  }

  /**
   * Writes a training checkpoint atomically: the student's weights, Adam's state, the step count,
   * LibTorch's CPU RNG state, fp16's loss-scaler state (fp16 sessions only; restored by loadCheckpoint into
   * an fp16 session) and `extra` (any JSON-serialisable value, e.g. schedule and sampler state).
   * The file is a dict that Python's `torch.load` reads.
   */
  saveCheckpoint(path: string, extra: unknown = null): Promise<void> {
    return this.#enqueue('saveCheckpoint', () => {
      if (typeof path !== 'string' || path.length === 0) throw new KDSError('E_ARG', `path must be a non-empty string, got ${describe(path)}`);
      let text: string;
      try {
        text = JSON.stringify(extra ?? null);
      } catch (err) {
        throw new KDSError('E_ARG', `checkpoint extra must be JSON-serialisable: ${(err as Error).message}`);
      }
      return awaitNative(() => this.#session.saveCheckpoint(path, text));
    });
  }

  /**
   * Restores a checkpoint written by {@link saveCheckpoint} into the current student (same architecture)
   * and its optimiser, and resolves to the checkpoint's `extra`. On error nothing changes.
   */
  loadCheckpoint(path: string): Promise<unknown> {
    return this.#enqueue('loadCheckpoint', async () => {
      if (typeof path !== 'string' || path.length === 0) throw new KDSError('E_ARG', `path must be a non-empty string, got ${describe(path)}`);
      const text = await awaitNative(() => this.#session.loadCheckpoint(path));
      if (!text) return null;
      try {
        return JSON.parse(text) as unknown;
      } catch (err) {
        // Only a file altered after kds wrote it gets here (its CRCs were made to fit).
        throw new KDSError('E_FILE', `checkpoint '${path}': its extra is not valid JSON (${(err as Error).message}); the weights and optimiser state were restored`, { cause: err });
      }
    });
  }

  /**
   * Joins a data-parallel run (see docs/distributed.md): resolves once every rank joined. Without
   * options it reads RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (as torchrun and `kds distill --nproc`
   * set them); explicit options win. Afterwards the first train() makes every rank start from rank 0's
   * student and Adam state, and every train() averages the gradients of all ranks, so N ranks with batch b
   * step like one process with batch N*b. Each rank passes its own batch.
   */
  setDistributed(options: DistributedOptions = {}): Promise<void> {
    return this.#enqueue('setDistributed', async () => {
      const { localRank, ...resolved } = distributedOptions(options);
      await awaitNative(() => this.#session.setDistributed(resolved));
      this.#localRank = localRank;
    });
  }

  /** This process's index on its machine, from setDistributed (0 when not distributed). */
  get localRank(): number {
    return this.#localRank;
  }

  /** This process's rank in the data-parallel run (0 when not distributed). */
  get rank(): number {
    return this.#session.rank ?? 0;
  }

  /** Processes in the data-parallel run (1 when not distributed). */
  get worldSize(): number {
    return this.#session.worldSize ?? 1;
  }

  /** Optimiser steps applied to the current student (restored by loadCheckpoint). */
  get stepCount(): number {
    return this.#session.steps ?? 0;
  }

  /** Waits for queued work, then releases the session (models stay usable through their own handles). */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#queue.catch(() => undefined);
    this.#session.dispose();
    this.#teacher = this.#student = undefined;
  }

  #checkIdle(method: string): void {
    if (this.#disposed) throw new KDSError('E_STATE', `${method}(): this KDS was disposed`);
    if (this.#pending > 0)
      throw new KDSError('E_STATE', `${method}(): a train() or saveStudentModel() call is still running; await it before changing the session`);
  }

  // Runs fn after everything queued before it, so steps never overlap and keep call order.
  #enqueue<T>(method: string, fn: () => Promise<T>): Promise<T> {
    if (this.#disposed) return Promise.reject(new KDSError('E_STATE', `${method}(): this KDS was disposed`));
    this.#pending++;
    const run = this.#queue.then(fn, fn);
    this.#queue = run.then(
      () => this.#pending--,
      () => this.#pending--,
    );
    return run;
  }
}

function checkModel(model: unknown, role: string): asserts model is Model {
  if (!(model instanceof Model))
    throw new KDSError('E_ARG', `${role} must be a kds Model (from models.edsr/rcan/san/studentOf() or loadTorchScript()), got ${describe(model)}`);
}

function nonNegative(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new KDSError('E_ARG', `${name} must be a finite number >= 0, got ${describe(value)}`);
  return value;
}

function precisionOptions(precision: unknown, options: unknown): NativePrecisionOptions {
  if (precision !== 'fp32' && precision !== 'bf16' && precision !== 'fp16')
    throw new KDSError('E_ARG', `precision must be 'fp32', 'bf16' or 'fp16', got ${describe(precision)}`);
  if (typeof options !== 'object' || options === null) throw new KDSError('E_ARG', `precision options must be an object, got ${describe(options)}`);
  const o = options as PrecisionOptions;
  const keys = Object.keys(o);
  for (const key of keys)
    if (!['initScale', 'growthFactor', 'backoffFactor', 'growthInterval'].includes(key))
      throw new KDSError('E_ARG', `unknown precision option '${key}': expected initScale, growthFactor, backoffFactor or growthInterval`);
  if (keys.length > 0 && precision !== 'fp16')
    throw new KDSError('E_ARG', `precision options (${keys.join(', ')}) set fp16's loss scaling; '${precision}' does not scale the loss`);
  const positive = (value: unknown, name: string, check: (v: number) => boolean, expected: string): number => {
    if (typeof value !== 'number' || !Number.isFinite(value) || !check(value))
      throw new KDSError('E_ARG', `${name} must be ${expected}, got ${describe(value)}`);
    return value;
  };
  return {
    precision,
    initScale: positive(o.initScale ?? 65536, 'initScale', (v) => v > 0 && v <= 3.4e38, 'a finite number > 0'),
    growthFactor: positive(o.growthFactor ?? 2, 'growthFactor', (v) => v > 1, 'a number > 1'),
    backoffFactor: positive(o.backoffFactor ?? 0.5, 'backoffFactor', (v) => v > 0 && v < 1, 'a number in (0, 1)'),
    growthInterval: positive(o.growthInterval ?? 2000, 'growthInterval', (v) => Number.isInteger(v) && v >= 1 && v <= 2 ** 31 - 1, 'a positive integer'),
  };
}

