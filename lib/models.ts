import { awaitNative, callNative, KDSError } from './errors';
import { native, NativeModel } from './native';
import { imageArg, Tensor, TensorLike } from './tensor';
import { exportOnnx, OnnxExportOptions } from './export/onnx';
import { invalidParameterError, isPlainObject, positiveInt } from './validate';
import type { StudentSize } from './models/kind';
import { ModelKindName, ModelSpec, modelKind, modelKindNames, OptionsOf, StudentOptions } from './models/registry';

export type { EdsrOptions } from './models/edsr';
export type { RcanOptions } from './models/rcan';
export type { SanOptions } from './models/san';
export type { StudentOptions, ModelSpec } from './models/registry';

/** See {@link Model.summary}. */
export interface ModelSummary {
  /** Trainable parameters (= parameterCount). */
  parameters: number;
  /** Parameters that never train (the mean shifts). */
  frozenParameters: number;
  /** Multiply-adds for one image; null if unknown. */
  multiplyAdds: number | null;
  /** [3, scale * height, scale * width]. */
  outputShape: number[];
  /** [channels, height, width] of each feature tap. */
  featureShapes: number[][];
}

export interface ForwardOutput {
  /** Feature maps at the model's taps (empty when the model returns only its output). */
  features: Tensor[];
  /** The super-resolved batch, [n, 3, scale*h, scale*w]. */
  output: Tensor;
}

/**
 * A super-resolution model: built by kds ({@link models}) or loaded from TorchScript ({@link loadTorchScript}).
 * Its forward returns feature maps and the SR output. A model set as student is trained in place.
 */
export class Model {
  /** @internal */
  readonly native: NativeModel;
  /** The hyper-parameters of a kds-built model (null for TorchScript); a frozen copy. */
  readonly spec: Readonly<ModelSpec> | null;

  /** @internal */
  constructor(nativeModel: NativeModel, spec: ModelSpec | null = null) {
    this.native = nativeModel;
    // Frozen all the way down (lists too), so that it keeps describing the native model.
    const copy = spec && Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, Array.isArray(v) ? Object.freeze([...v]) : v]));
    this.spec = copy ? (Object.freeze(copy) as Readonly<ModelSpec>) : null;
  }

  /** The kind in the model table ('edsr', 'rcan', 'san') or 'torchscript'. */
  get kind(): string {
    return callNative(() => this.native.kind);
  }

  /** Whether forward returns feature maps (needed for the SA loss). */
  get hasFeatures(): boolean {
    return callNative(() => this.native.hasFeatures);
  }

  /** The upscaling factor; null for a TorchScript model that has not run yet. */
  get scale(): number | null {
    return callNative(() => this.native.scale);
  }

  /** Number of trainable parameters. */
  get parameterCount(): number {
    return callNative(() => this.native.parameterCount);
  }

  /** 'cpu', 'cuda:0', ... */
  get device(): string {
    return callNative(() => this.native.device);
  }

  /** Runs the model (no gradients) on a worker thread. */
  async forward(input: TensorLike): Promise<ForwardOutput> {
    const arg = imageArg(input, 'input');
    const r = await awaitNative(() => this.native.forward(arg));
    return { features: r.features.map((f) => new Tensor(f)), output: new Tensor(r.output) };
  }

  /**
   * Saves the model atomically: EDSR, RCAN and SAN as a state dict (`torch.load` + EDSR-PyTorch's `load_state_dict`),
   * TorchScript as TorchScript (`torch.jit.load`).
   */
  async save(path: string): Promise<void> {
    checkPath(path);
    await awaitNative(() => this.native.save(path));
  }

  /** Saves the parameters as a PyTorch state dict (readable with `torch.load`), atomically. */
  async saveStateDict(path: string): Promise<void> {
    checkPath(path);
    await awaitNative(() => this.native.saveStateDict(path));
  }

  /**
   * Loads a state dict written by `torch.save` (bare, `{state_dict: ...}`, or with DataParallel's `module.`
   * prefixes). With `strict` (default), missing and unexpected keys are errors; shapes must always match.
   * On error nothing is loaded.
   */
  async loadStateDict(path: string, options: { strict?: boolean } = {}): Promise<void> {
    checkPath(path);
    const strict = options.strict ?? true;
    if (typeof strict !== 'boolean') throw new KDSError('E_ARG', `options.strict must be a boolean, got ${typeof strict}`);
    await awaitNative(() => this.native.loadStateDict(path, { strict }));
  }

  /**
   * Size and cost for one LR input of `height` x `width` (batch 1): trainable and frozen parameter counts,
   * multiply-adds of every convolution and matrix product (not biases, activations, pooling or elementwise
   * ops), and the output and feature-map shapes (without the batch dimension). kds-built models compute
   * this from their structure; a TorchScript model is run once on a zero image of that size.
   */
  async summary(size: { height: number; width: number }): Promise<ModelSummary> {
    if (typeof size !== 'object' || size === null) throw new KDSError('E_ARG', `summary needs { height, width }, got ${String(size)}`);
    for (const key of ['height', 'width'] as const) {
      const v = size[key];
      if (!Number.isInteger(v) || v < 1) throw new KDSError('E_ARG', `summary: ${key} must be a positive integer, got ${String(v)}`);
    }
    return awaitNative(() => this.native.summary({ height: size.height, width: size.width }));
  }

  /**
   * Writes the model as an ONNX file (atomically) for ONNX Runtime and other edge runtimes: input
   * `[N, 3, H, W]` on 0..rgbRange, output the SR image, feature taps left out, weights as initialisers.
   * EDSR, RCAN and SAN are written by kds itself; a TorchScript model goes through python3's torch.onnx.
   * Options: `opset` (13..21, default 17), `fp16` (float16 weights and compute, float32 input and output),
   * `dynamicSize` (default true; false with `height` and `width` fixes the input to [1, 3, height, width]).
   */
  async exportOnnx(path: string, options: OnnxExportOptions = {}): Promise<void> {
    await exportOnnx(this, path, options);
  }

  /** Releases this handle; the memory is freed once no KDS session uses the model either. */
  dispose(): void {
    this.native.dispose();
  }
}

function checkPath(path: unknown): asserts path is string {
  if (typeof path !== 'string' || path.length === 0) throw new KDSError('E_ARG', `path must be a non-empty string, got ${String(path)}`);
}

/** One factory per kind of the model table (lib/models/registry.ts), e.g. `models.edsr(options)`. */
type ModelFactories = { readonly [K in ModelKindName]: (options?: OptionsOf<K>) => Model };

const factories = Object.fromEntries(
  modelKindNames().map((name) => [name, (options?: Record<string, unknown>) => build(modelKind(name)!.spec(options) as ModelSpec)]),
) as unknown as ModelFactories;

/** Model factories. Weights are initialised like PyTorch's defaults; seed with {@link manualSeed}. */
export const models: ModelFactories & {
  /**
   * A fresh student for `teacher` (a kds-built model or its spec): same architecture, scale and rgbRange,
   * at most the teacher's blocks, groups and channels. Unset sizes take FAKD's students: EDSR 16 blocks x 64
   * channels (resScale 1), RCAN 6 RCABs per group, SAN 6 groups; see {@link StudentOptions}.
   */
  studentOf(teacher: Model | ModelSpec, options?: StudentOptions): Model;
} = {
  ...factories,
  studentOf(teacher: Model | ModelSpec, options: StudentOptions = {}): Model {
    return build(studentSpec(teacher instanceof Model ? teacher.spec : teacher, options));
  },
};

const KIND_LIST = `models.${modelKindNames().join('/')}`;

/** The student's spec: the teacher's architecture, scale and rgbRange with smaller (or equal) sizes. */
function studentSpec(teacherSpec: unknown, options: unknown): ModelSpec {
  const kind = isPlainObject(teacherSpec) ? modelKind(teacherSpec.architecture) : undefined;
  if (!kind)
    throw new KDSError('E_ARG', `studentOf needs a teacher built by ${KIND_LIST} (or its spec); for a TorchScript teacher, build the student with ${KIND_LIST} directly`);
  // A spec passed in by hand may lack fields or hold bad values: checked and completed again.
  const { architecture: _, ...teacherOptions } = teacherSpec as Record<string, unknown>;
  const teacher = kind.spec(teacherOptions) as unknown as Record<string, unknown>;
  if (!isPlainObject(options)) throw invalidParameterError('studentOf options', 'an object', options);
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!kind.studentKeys.includes(key))
      throw new KDSError('E_ARG', `studentOf: option '${key}' does not apply to a ${kind.name} student (the student keeps the teacher's scale and rgbRange); allowed: ${kind.studentKeys.join(', ')}`);
  }
  const size: StudentSize = (key, fakdDefault) => {
    const limit = teacher[key] as number;
    const given = options[key];
    if (given === undefined) return Math.min(fakdDefault, limit);
    const value = positiveInt(given, `studentOf: ${key}`);
    if (value > limit)
      throw new KDSError('E_ARG', `studentOf: ${key} ${value} exceeds the teacher's ${limit}; a student has at most the teacher's blocks, groups and channels`);
    return value;
  };
  return kind.spec(kind.student(teacher as never, options, size)) as unknown as ModelSpec;
}

function build(spec: ModelSpec): Model {
  const { architecture, ...options } = spec;
  return new Model(callNative(() => native().createModel(architecture, options)), spec);
}

/**
 * Loads a TorchScript model saved with `torch.jit.save`. Its forward must return
 * `Tuple[List[Tensor], Tensor]` (feature maps, output) or a `Tensor`. It can be teacher or student.
 */
export async function loadTorchScript(path: string): Promise<Model> {
  checkPath(path);
  return new Model(await awaitNative(() => native().loadTorchScript(path)));
}
