import type { StepLosses } from './addon-types';
import { distributedOptions, DistributedOptions } from './distributed';
import { awaitNative, callNative, KDSError } from './errors';
import { Model } from './models';
import { native, NativeSession } from './native';
import {
  LossOptions, lossOptions, MemoryFormat, memoryFormat, OptimizerOptions, optimizerOptions, Precision, PrecisionOptions,
  precisionOptions, SESSION_DEFAULTS, TeacherPrecision, teacherPrecision,
} from './session-options';
import { imageArg, TensorLike } from './tensor';
import { fit, FitOptions, FitResult } from './train/fit';
import { describe, invalidParameterError, nonEmptyString, numberInRange } from './validate';

export type { StepLosses, StepTimings } from './addon-types';
export type { FeatureTermSpec, LossOptions, MemoryFormat, OptimizerOptions, Precision, PrecisionOptions, SAOptions, TeacherPrecision } from './session-options';

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
  // Names of the calls queued on the session, the one running first (see #enqueue).
  readonly #inFlight: string[] = [];
  #disposed = false;
  #teacher: Model | undefined;
  #student: Model | undefined;
  #precision: Precision = 'fp32';
  #teacherPrecision: TeacherPrecision = SESSION_DEFAULTS.teacherPrecision;
  #memoryFormat: MemoryFormat = 'contiguous';
  #localRank = 0;
  #ema = 0;

  constructor() {
    this.#session = callNative(() => new (native().NativeSession)());
    // The addon has no defaults of its own: a new session gets lib/'s.
    callNative(() => {
      this.#session.setLoss(SESSION_DEFAULTS.loss);
      this.#session.setOptimizer(SESSION_DEFAULTS.optimizer);
      this.#session.setPrecision(SESSION_DEFAULTS.precision);
      this.#session.setTeacherPrecision(SESSION_DEFAULTS.teacherPrecision);
    });
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
    callNative(() => this.#session.setLoss(lossOptions(options)));
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
    const checked = precisionOptions(precision, options);
    callNative(() => this.#session.setPrecision(checked));
    this.#precision = checked.precision;
    return this;
  }

  get precision(): Precision {
    return this.#precision;
  }

  /**
   * The teacher forward's own arithmetic. The teacher needs no gradients, so it can run in 'bf16' (or
   * 'fp16') while the student trains in fp32: its output and features reach the loss as float32 copies.
   * 'step' (default) follows {@link setPrecision}. A reduced precision is for speed, so it needs hardware
   * arithmetic: E_DEVICE on a CPU without AVX512-BF16/AMX-BF16 (AVX512-FP16/AMX-FP16 for 'fp16') and for
   * 'bf16' on GPUs older than compute capability 8.0, naming what is missing; setDevice checks it again.
   */
  setTeacherPrecision(precision: TeacherPrecision): this {
    this.#checkIdle('setTeacherPrecision');
    const checked = teacherPrecision(precision);
    callNative(() => this.#session.setTeacherPrecision(checked));
    this.#teacherPrecision = checked;
    return this;
  }

  get teacherPrecision(): TeacherPrecision {
    return this.#teacherPrecision;
  }

  /**
   * 'channels_last' gives the teacher's and student's convolution weights and every batch NHWC strides
   * (same values): the layout tensor-core convolutions on NVIDIA GPUs prefer, so it pays off on CUDA,
   * mostly with bf16/fp16. It converts the models in place (later forward calls give the same results).
   * 'contiguous' (default) converts them back.
   */
  setMemoryFormat(format: MemoryFormat): this {
    this.#checkIdle('setMemoryFormat');
    const checked = memoryFormat(format);
    callNative(() => this.#session.setChannelsLast(checked === 'channels_last'));
    this.#memoryFormat = format;
    return this;
  }

  get memoryFormat(): MemoryFormat {
    return this.#memoryFormat;
  }

  /** Adam's hyper-parameters. Changing them keeps Adam's moments. */
  setOptimizer(options: OptimizerOptions = {}): this {
    this.#checkIdle('setOptimizer');
    const adam = optimizerOptions(options);
    callNative(() => this.#session.setOptimizer(adam));
    return this;
  }

  /**
   * Keeps an exponential moving average of the student's weights, as SR trainers do: after every applied
   * step, average = d * average + (1 - d) * weights, with d = min(decay, (1 + n) / (10 + n)) after n
   * updates (a warm-up, so short runs do not keep the initial weights). While it is on,
   * {@link saveStudentModel} saves the average, checkpoints store it, and {@link withAveragedWeights} lends
   * it to the student for validation. 0 turns it off. Setting it (re)starts the average.
   */
  setEma(decay: number): this {
    this.#checkIdle('setEma');
    const d = numberInRange(decay, 'ema decay', 0, 1, { max: true });
    callNative(() => this.#session.setEma(d));
    this.#ema = d;
    return this;
  }

  /** The weight average's decay; 0 when it is off. */
  get ema(): number {
    return this.#ema;
  }

  /**
   * Runs `fn` while the student holds the averaged weights (see {@link setEma}), then puts the trained
   * weights back, also when `fn` fails. Without an average (off, or no step yet) it just runs `fn`.
   */
  withAveragedWeights<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.#enqueue('withAveragedWeights', async () => {
      const swapped = this.#ema > 0 && callNative(() => this.#session.swapAveragedWeights());
      try {
        return await fn();
      } finally {
        if (swapped) callNative(() => this.#session.swapAveragedWeights());
      }
    });
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

  /**
   * Saves the student atomically: a TorchScript student as TorchScript, a kds-built one (EDSR, RCAN, SAN)
   * as a state dict that PyTorch's torch.load reads.
   */
  saveStudentModel(path: string): Promise<void> {
    return this.#enqueue('saveStudentModel', () => {
      nonEmptyString(path, 'path');
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
      nonEmptyString(path, 'path');
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
      nonEmptyString(path, 'path');
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
    if (this.#inFlight.length > 0) {
      const queued = this.#inFlight.length > 1 ? ` (${this.#inFlight.length - 1} more call(s) queued behind it)` : '';
      throw new KDSError('E_STATE', `${method}(): ${this.#inFlight[0]}() is still running; await it before changing the session${queued}`);
    }
  }

  // Runs fn after everything queued before it, so steps never overlap and keep call order.
  #enqueue<T>(method: string, fn: () => Promise<T>): Promise<T> {
    if (this.#disposed) return Promise.reject(new KDSError('E_STATE', `${method}(): this KDS was disposed`));
    this.#inFlight.push(method);
    const run = this.#queue.then(fn, fn);
    // Calls finish in queue order, so the one finishing is the first name.
    const done = () => void this.#inFlight.shift();
    this.#queue = run.then(done, done);
    return run;
  }
}

function checkModel(model: unknown, role: string): asserts model is Model {
  if (!(model instanceof Model))
    throw invalidParameterError(role, 'a kds Model (from models.edsr/rcan/san/studentOf() or loadTorchScript())', model);
}
