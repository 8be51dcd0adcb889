// The plain shapes that cross the boundary with the native addon: the complete option objects lib/ sends
// (every field set: TypeScript owns the defaults, the glue takes no fallback) and the results it returns.
// A leaf module: it imports nothing, so every layer can use it. The public result types are defined here
// once and re-exported by the modules users read (kds.ts, runtime.ts).

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

/** What kds was built against and what this process can use. */
export interface Info {
  torchVersion: string;
  libtorchDir: string;
  cudaAvailable: boolean;
  cudaDeviceCount: number;
  /** One entry per visible GPU: name, memory and compute capability. Empty in a CPU build. */
  cudaDevices: string[];
  /**
   * The explicit `setTeacherPrecision` values a teacher runs with here: 'fp32' always, 'bf16' /
   * 'fp16' where the device does that arithmetic in hardware (CPU: AVX512-BF16 / AMX-BF16, AVX512-FP16 /
   * AMX-FP16; cuda: the first GPU, bf16 from compute capability 8.0). `cuda` is empty without a GPU.
   */
  teacherPrecisions: { cpu: string[]; cuda: string[] };
  /** Whether cuDNN autotuning is on (see {@link setCudnnBenchmark}). */
  cudnnBenchmark: boolean;
  numThreads: number;
  parallelInfo: string;
  /**
   * Whether this build has c10d's Gloo backend: setDistributed({ backend: 'gloo' }) (the default backend,
   * CPU tensors) works. The install builds it in where it finds Gloo's headers.
   */
  gloo: boolean;
  /**
   * The older name of {@link Info.gloo}, with the same value: it says whether the Gloo backend is built in,
   * not whether any backend is (a CUDA build may have NCCL without Gloo: see {@link Info.nccl}).
   * @deprecated Read `gloo` (and `nccl`).
   */
  distributed: boolean;
  /** Whether this CUDA build has c10d's NCCL backend (setDistributed({ backend: 'nccl' })). */
  nccl: boolean;
}

/** The session's loss, as setLoss sends it (see LossOptions in session-options.ts for the meaning). */
export interface NativeLossOptions {
  DS: number;
  TS: number;
  /** The feature terms with every option of each (lib/feature-terms.ts); positions [] = every pair. */
  features: { type: string; weight: number; positions: number[]; options: Record<string, number | string> }[];
}

/** A row of the core's feature-term registry (native/losses/feature_registry.cc). */
export interface NativeFeatureTermInfo {
  name: string;
  options: { name: string; kind: 'number' | 'string' }[];
  equalChannels: boolean;
  equalSize: boolean;
  minPositions: number;
}

/** The functional SA loss's options. */
export interface NativeSAOptions {
  impl: 'fused' | 'plain';
  eps: number;
  tile: number;
  pool: 'none' | 'max' | 'avg';
  poolSize: number;
  dtype: 'float32' | 'float64';
}

export interface NativeAdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 0: no clipping. */
  clipGradNorm: number;
}

export interface NativePrecisionOptions {
  precision: 'fp32' | 'bf16' | 'fp16';
  initScale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
}

export interface NativeDistributedOptions {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  backend: 'gloo' | 'nccl';
  timeoutMs: number;
}

/** imageQuality's options. */
export interface NativeQualityOptions {
  shave: number;
  psnr: boolean;
  ssim: boolean;
}

export interface NativeModelSummary {
  parameters: number;
  frozenParameters: number;
  multiplyAdds: number | null;
  outputShape: number[];
  featureShapes: number[][];
}

export interface NativePixels {
  /** H x W x 3 bytes, row-major. */
  data: Buffer;
  height: number;
  width: number;
}

export interface NativeQuality {
  psnr: number;
  ssim: number;
}
