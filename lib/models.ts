import { awaitNative, callNative, KDSError } from './errors';
import { native, NativeModel } from './native';
import { describe, imageArg, Tensor, TensorLike } from './tensor';

/** EDSR (Lim et al. 2017) hyper-parameters; defaults are EDSR-PyTorch's baseline (r16f64, x2). */
export interface EdsrOptions {
  /** Upscaling factor: 2, 3, 4 or 8. Default 2. */
  scale?: number;
  /** Residual blocks in the body. Default 16. */
  nResblocks?: number;
  /** Feature channels. Default 64. */
  nFeats?: number;
  /** Residual scaling; EDSR's big r32f256 model uses 0.1. Default 1. */
  resScale?: number;
  /** Pixel value range. Default 255 (images on 0..255). */
  rgbRange?: number;
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

  /** @internal */
  constructor(nativeModel: NativeModel) {
    this.native = nativeModel;
  }

  /** 'edsr' or 'torchscript'. */
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
   * Saves the model atomically: EDSR as a state dict (`torch.load` + EDSR-PyTorch's `load_state_dict`),
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

  /** Releases this handle; the memory is freed once no KDS session uses the model either. */
  dispose(): void {
    this.native.dispose();
  }
}

function checkPath(path: unknown): asserts path is string {
  if (typeof path !== 'string' || path.length === 0) throw new KDSError('E_ARG', `path must be a non-empty string, got ${String(path)}`);
}

function positiveInt(value: unknown, name: string, allowed?: number[]): number {
  if (!Number.isInteger(value) || (value as number) < 1)
    throw new KDSError('E_ARG', `${name} must be a positive integer, got ${String(value)}`);
  if (allowed && !allowed.includes(value as number))
    throw new KDSError('E_ARG', `${name} must be one of ${allowed.join(', ')}, got ${String(value)}`);
  return value as number;
}

function positiveNumber(value: unknown, name: string): number {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value))
    throw new KDSError('E_ARG', `${name} must be a positive number, got ${String(value)}`);
  return value;
}

// Rejects non-objects and unknown keys, so that a typo ('nResBlocks') is an error, not a silent default.
function checkKeys(options: unknown, owner: string, known: string[]): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new KDSError('E_ARG', `${owner}: options must be an object, got ${describe(options)}`);
  for (const key of Object.keys(options))
    if (!known.includes(key)) throw new KDSError('E_ARG', `${owner}: unknown option '${key}': expected ${known.join(', ')}`);
}

/** Model factories. Weights are initialised like PyTorch's defaults; seed with {@link manualSeed}. */
export const models = {
  /** EDSR with FAKD's four feature taps: head output and the outputs of three groups of residual blocks. */
  edsr(options: EdsrOptions = {}): Model {
    checkKeys(options, 'edsr', ['scale', 'nResblocks', 'nFeats', 'resScale', 'rgbRange']);
    const scale = positiveInt(options.scale ?? 2, 'edsr: scale', [2, 3, 4, 8]);
    const nResblocks = positiveInt(options.nResblocks ?? 16, 'edsr: nResblocks');
    const nFeats = positiveInt(options.nFeats ?? 64, 'edsr: nFeats');
    const resScale = positiveNumber(options.resScale ?? 1, 'edsr: resScale');
    const rgbRange = positiveNumber(options.rgbRange ?? 255, 'edsr: rgbRange');
    return new Model(callNative(() => native().createEdsr({ scale, nResblocks, nFeats, resScale, rgbRange })));
  },
};

/**
 * Loads a TorchScript model saved with `torch.jit.save`. Its forward must return
 * `Tuple[List[Tensor], Tensor]` (feature maps, output) or a `Tensor`. It can be teacher or student.
 */
export async function loadTorchScript(path: string): Promise<Model> {
  checkPath(path);
  return new Model(await awaitNative(() => native().loadTorchScript(path)));
}
