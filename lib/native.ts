// The addon's surface, typed. Loaded once with node-gyp-build, which prefers build/Release and falls
// back to prebuilds/<platform>-<arch>/. Everything here is internal: lib/ wraps it for users.
import path from 'node:path';
import { KDSError } from './errors';
import type { NativeDataAddon } from './data/native-data';
import type { StepTimings } from './kds'; // the addon returns the public shape as is

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

/** A row of the core's feature-term registry (native/losses/feature_registry.cc). */
export interface NativeFeatureTermInfo {
  name: string;
  options: { name: string; kind: 'number' | 'string' }[];
  equalChannels: boolean;
  equalSize: boolean;
  minPositions: number;
}

export interface NativeSAOptions {
  impl: string;
  eps: number;
  tile: number;
  pool: string;
  poolSize: number;
  dtype: string;
}

export interface NativeForward {
  features: NativeTensor[];
  output: NativeTensor;
}

export interface NativeModelSummary {
  parameters: number;
  frozenParameters: number;
  multiplyAdds: number | null;
  outputShape: number[];
  featureShapes: number[][];
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
  dispose(): void;
}

export interface NativeLossOptions {
  DS: number;
  TS: number;
  features: { type: string; weight: number; positions: number[]; options: Record<string, number | string> }[];
}

export interface NativeAdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface NativePrecisionOptions {
  precision: string;
  initScale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
}

export interface NativeStepLosses {
  total: number;
  DS: number;
  TS: number;
  SA: number;
  parts: Record<string, number>;
  skipped: boolean;
  lossScale: number;
  timings: StepTimings;
}

export interface NativeDistributedOptions {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  backend: 'gloo' | 'nccl';
  timeoutMs: number;
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
  setChannelsLast(on: boolean): void;
  train(lr: NativeTensor | NativeTensorArg, hr: NativeTensor | NativeTensorArg): Promise<NativeStepLosses>;
  saveStudent(path: string): Promise<void>;
  saveCheckpoint(path: string, extra: string): Promise<void>;
  loadCheckpoint(path: string): Promise<string>;
  readonly steps: number | null;
  setDistributed(options: NativeDistributedOptions): Promise<void>;
  readonly rank: number;
  readonly worldSize: number;
  dispose(): void;
}

export interface NativeBuildInfo {
  torchVersion: string;
  libtorchDir: string;
  cudaAvailable: boolean;
  cudaDeviceCount: number;
  cudaDevices: string[];
  cudnnBenchmark: boolean;
  numThreads: number;
  parallelInfo: string;
  distributed: boolean;
  nccl: boolean;
}

export interface NativeAddon extends NativeDataAddon {
  NativeTensor: (new (data: Float32Array, shape: readonly number[]) => NativeTensor) & {
    /** V8's total of native memory reported with AdjustExternalMemory (tensors and models); for tests. */
    externalMemory(): number;
  };
  NativeModel: new (...args: never[]) => NativeModel;
  NativeSession: new () => NativeSession;
  createEdsr(options: Record<string, number>): NativeModel;
  createRcan(options: Record<string, number | number[]>): NativeModel;
  createSan(options: Record<string, number | number[]>): NativeModel;
  loadTorchScript(path: string): Promise<NativeModel>;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  manualSeed(seed: number): void;
  buildInfo(): NativeBuildInfo;
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
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeAddon;
    return nodeGypBuild(root);
  } catch (err) {
    throw new KDSError(
      'E_NATIVE',
      `kds: the native addon could not be loaded from ${root} (${(err as Error).message.split('\n')[0]}). ` +
        'Run `npm install` (or `npm run build:native`) in the kds package to build it.',
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
