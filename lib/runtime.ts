import type { Info } from './addon-types';
import { callNative } from './errors';
import { native } from './native';
import { boolean, nonNegativeSafeInt, positiveInt } from './validate';

export type { Info } from './addon-types';

/**
 * Intra-op threads for LibTorch (default: LibTorch's choice, the number of physical cores; the
 * KDS_NUM_THREADS environment variable sets it at load). On a busy machine fewer threads can be faster.
 */
export function setNumThreads(n: number): void {
  positiveInt(n, 'numThreads');
  callNative(() => native().setNumThreads(n));
}

export function getNumThreads(): number {
  return callNative(() => native().getNumThreads());
}

/** Seeds LibTorch's random generators (model initialisation). */
export function manualSeed(seed: number): void {
  nonNegativeSafeInt(seed, 'seed');
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
  boolean(on, 'cudnnBenchmark');
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
