// The addon's surface, typed. Loaded once with node-gyp-build, which prefers build/Release and falls
// back to prebuilds/<platform>-<arch>/. Everything here is internal: lib/ wraps it for users.
import path from 'node:path';
import type {
  Info,
  NativeAdamOptions,
  NativeDistributedOptions,
  NativeFeatureTermInfo,
  NativeLossOptions,
  NativeModelSummary,
  NativePixels,
  NativePrecisionOptions,
  NativeQuality,
  NativeQualityOptions,
  NativeSAOptions,
  StepLosses,
} from './addon-types';
import { KDSError } from './errors';
import { lazyRequire } from './lazy-require';

export interface NativeTensor {
  readonly shape: number[];
  readonly device: string;
  toFloat32Array(): Float32Array;
  dispose(): void;
}

export interface NativeTensorArg {
  data: Float32Array;
  shape: readonly number[];
}

/** A feature map for the functional losses: float32 or float64 host values. */
export interface NativeFeatureArg {
  data: Float32Array | Float64Array;
  shape: readonly number[];
}

export interface NativeForward {
  features: NativeTensor[];
  output: NativeTensor;
}

export interface NativeModel {
  readonly kind: string;
  readonly hasFeatures: boolean;
  readonly scale: number | null;
  readonly parameterCount: number;
  readonly device: string;
  forward(input: NativeTensor | NativeTensorArg): Promise<NativeForward>;
  save(path: string): Promise<void>;
  saveStateDict(path: string): Promise<void>;
  loadStateDict(path: string, options: { strict: boolean }): Promise<void>;
  summary(size: { height: number; width: number }): Promise<NativeModelSummary>;
  /** Every parameter and buffer by state-dict name, float32 CPU copies (for the ONNX writer). */
  namedTensors(): Promise<{ name: string; tensor: NativeTensor }[]>;
  dispose(): void;
}

export interface NativeSession {
  readonly device: string | null;
  readonly busy: boolean;
  setDevice(device: string): void;
  setTeacher(model: NativeModel): void;
  setStudent(model: NativeModel): void;
  setLoss(options: NativeLossOptions): void;
  setOptimizer(options: NativeAdamOptions): void;
  setPrecision(options: NativePrecisionOptions): void;
  setTeacherPrecision(precision: string): void;
  setChannelsLast(on: boolean): void;
  /** decay in [0, 1); 0 turns the weight average off. */
  setEma(decay: number): void;
  /** Exchanges the student's weights with their average (a second call restores them); false when there is none yet. */
  swapAveragedWeights(): boolean;
  train(lr: NativeTensor | NativeTensorArg, hr: NativeTensor | NativeTensorArg): Promise<StepLosses>;
  saveStudent(path: string): Promise<void>;
  saveCheckpoint(path: string, extra: string): Promise<void>;
  loadCheckpoint(path: string): Promise<string>;
  readonly steps: number | null;
  setDistributed(options: NativeDistributedOptions): Promise<void>;
  readonly rank: number;
  readonly worldSize: number;
  dispose(): void;
}

/** The image, batch, upscale and metric functions (native/glue/data_wrap.cc); lib/data, metrics and upscale wrap them. */
export interface NativeDataAddon {
  /** Interleaved bytes -> 8-bit image [1, 3, H, W] (uint8), optionally cropped to its top-left part. */
  imageFromPixels(
    pixels: Uint8Array, height: number, width: number, channels: number, name: string, cropHeight: number, cropWidth: number,
  ): Promise<NativeTensor>;
  imageToPixels(image: NativeTensor | NativeTensorArg): Promise<NativePixels>;
  imageToFloat(image: NativeTensor): Promise<NativeTensor>;
  /** MATLAB imresize bicubic; 8-bit in, 8-bit out; float in, float out (rounded to 0..255 integers when `round`). */
  resizeBicubic(
    image: NativeTensor | NativeTensorArg, outHeight: number, outWidth: number, scaleH: number, scaleW: number, round: boolean,
  ): Promise<NativeTensor>;
  /** patches: (image, top, left, transform) per patch. */
  assembleBatch(
    lr: NativeTensor[], hr: NativeTensor[], patches: Int32Array, patchSize: number, scale: number,
  ): Promise<{ lr: NativeTensor; hr: NativeTensor }>;
  upscaleTiled(model: NativeModel, input: NativeTensor | NativeTensorArg, tile: number, overlap: number): Promise<NativeTensor>;
  imageQuality(sr: NativeTensor | NativeTensorArg, hr: NativeTensor | NativeTensorArg, options: NativeQualityOptions): Promise<NativeQuality>;
}

export interface NativeAddon extends NativeDataAddon {
  NativeTensor: (new (data: Float32Array, shape: readonly number[]) => NativeTensor) & {
    /** V8's total of native memory reported with AdjustExternalMemory (tensors and models); for tests. */
    externalMemory(): number;
  };
  NativeModel: new (...args: never[]) => NativeModel;
  NativeSession: new () => NativeSession;
  /** A kind of the model table (native/models/registry.cc) from its complete spec (lib/models/<kind>.ts). */
  createModel(kind: string, spec: Readonly<Record<string, number | readonly number[]>>): NativeModel;
  loadTorchScript(path: string): Promise<NativeModel>;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  manualSeed(seed: number): void;
  buildInfo(): Info;
  setCudnnBenchmark(on: boolean): void;
  spatialAffinityLoss(
    student: NativeTensor | NativeFeatureArg,
    teacher: NativeTensor | NativeFeatureArg,
    options: NativeSAOptions,
  ): Promise<{ loss: number; grad: NativeTensor }>;
  featureLoss(
    type: string,
    students: (NativeTensor | NativeFeatureArg)[],
    teachers: (NativeTensor | NativeFeatureArg)[],
    options: Record<string, number | string>,
  ): Promise<{ loss: number; grads: (NativeTensor | { data: Float64Array; shape: number[] })[] }>;
  featureTerms(): NativeFeatureTermInfo[];
}

function load(): NativeAddon {
  const root = path.resolve(__dirname, '..');
  try {
    const nodeGypBuild = lazyRequire<(dir: string) => NativeAddon>('node-gyp-build');
    return process.env.KDS_ADDON_PATH ? lazyRequire<NativeAddon>(path.resolve(process.env.KDS_ADDON_PATH)) : nodeGypBuild(root); // KDS_ADDON_PATH: npm run test:sanitize
  } catch (err) {
    throw new KDSError(
      'E_NATIVE',
      `kds: the native addon could not be loaded from ${root} (${(err as Error).message.split('\n')[0]}). ` +
        'In a project that depends on kds: npm runs dependencies\' install scripts only when allowed (npm 11.19+), so run ' +
        '`npm install-scripts approve kds && npm rebuild kds` (it finds or installs LibTorch and the addon). In a checkout ' +
        'of kds: `npm install` (or `npm run build:native`).',
      { cause: err },
    );
  }
}

let addon: NativeAddon | undefined;

/** The loaded addon; loads it (and LibTorch) on first use. */
export function native(): NativeAddon {
  if (!addon) {
    addon = load();
    const threads = process.env.KDS_NUM_THREADS;
    if (threads) addon.setNumThreads(Number(threads));
  }
  return addon;
}
