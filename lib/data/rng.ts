// A small seeded generator for the sampler's choices (which image, where, which symmetry). The choices
// are a few numbers per patch, so speed does not matter; reproducibility does.
import { nonNegativeSafeInt } from '../validate';

/** mulberry32, seeded through a splitmix32 step so that nearby seeds give unrelated streams. */
export class Random {
  #state: number;

  constructor(seed: number) {
    nonNegativeSafeInt(seed, 'seed');
    // Fold the high bits in, then scramble.
    let s = (seed >>> 0) ^ Math.floor(seed / 2 ** 32);
    s = (s + 0x9e3779b9) | 0;
    s = Math.imul(s ^ (s >>> 16), 0x85ebca6b);
    s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35);
    this.#state = (s ^ (s >>> 16)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.min(n - 1, Math.floor(this.next() * n));
  }
}
