import { callNative, KDSError } from './errors';
import { native } from './native';

/** What kds was built against and what this process can use. */
export interface Info {
  torchVersion: string;
  libtorchDir: string;
  cudaAvailable: boolean;
  cudaDeviceCount: number;
  /** One entry per visible GPU: name, memory and compute capability. Empty in a CPU build. */
  cudaDevices: string[];
  /** Whether cuDNN autotuning is on (see {@link setCudnnBenchmark}). */
  cudnnBenchmark: boolean;
  numThreads: number;
  parallelInfo: string;
  /** Whether this build has data-parallel training (c10d with Gloo): see kds.setDistributed. */
  distributed: boolean;
  /** Whether this CUDA build has the NCCL backend (setDistributed({ backend: 'nccl' })). */
  nccl: boolean;
}

/**
 * Intra-op threads for LibTorch (default: LibTorch's choice, the number of physical cores; the
 * KDS_NUM_THREADS environment variable sets it at load). On a busy machine fewer threads can be faster.
 */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new KDSError('E_ARG', `numThreads must be a positive integer, got ${String(n)}`);
  callNative(() => native().setNumThreads(n));
}

export function getNumThreads(): number {
  return callNative(() => native().getNumThreads());
}

/** Seeds LibTorch's random generators (model initialisation). */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new KDSError('E_ARG', `seed must be a non-negative integer, got ${String(seed)}`);
  callNative(() => native().manualSeed(seed));
}

let cudnnBenchmarkChosen = false;

/**
 * cuDNN autotuning (PyTorch's `torch.backends.cudnn.benchmark`): each convolution shape times cuDNN's
 * algorithms on its first call and keeps the fastest, which pays off when the shapes repeat (fixed-size
 * training patches). Process-wide. Off until set; `kds.fit()` on a CUDA device turns it on unless it
 * was set explicitly. No effect on the CPU.
 */
export function setCudnnBenchmark(on: boolean): void {
  if (typeof on !== 'boolean') throw new KDSError('E_ARG', `cudnnBenchmark must be a boolean, got ${String(on)}`);
  callNative(() => native().setCudnnBenchmark(on));
  cudnnBenchmarkChosen = true;
}

/** @internal fit()'s default: autotuning on for CUDA training unless the user chose. */
export function defaultCudnnBenchmarkForDevice(device: string): void {
  if (!cudnnBenchmarkChosen && device.startsWith('cuda')) callNative(() => native().setCudnnBenchmark(true));
}

export function info(): Info {
  return callNative(() => native().buildInfo());
}
