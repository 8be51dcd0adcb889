// Where fit's training batches come from. A BatchSource is an endless stream of batches that can say
// where it is (`state`, JSON) and go back there (`restore`), so that a resumed run sees the same batches
// as an uninterrupted one.
import { KDSError } from '../errors';
import type { TensorLike } from '../tensor';
import { invalidParameterError, nonNegativeSafeInt, positiveInt } from '../validate';

/** One training batch: LR [n, 3, h, w] and HR [n, 3, s*h, s*w], values 0..255. */
export interface Batch {
  lr: TensorLike;
  hr: TensorLike;
}

export interface BatchSource {
  /** The next batch. fit disposes batches that are Tensors once their step is done. */
  next(): Promise<Batch>;
  /** A JSON-serialisable position in the stream. */
  state(): unknown;
  /** Continues the stream from a position given by `state()` (of a source made the same way). */
  restore(state: unknown): Promise<void>;
  /** Stops background work (prefetching). */
  close?(): void;
}

/** What `seededBlocks` needs from a sampler: an endless async iterator of batches. */
export type SeededStream = AsyncIterator<Batch> & { close?(): void };

/** The seed of block `block` of a run seeded with `seed` (block 0 uses `seed` itself). */
export function blockSeed(seed: number, block: number): number {
  if (block === 0) return seed;
  let h = (seed ^ Math.imul(block, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A resumable source over any seeded sampler: batches come in blocks of `blockSize`, block k from a
 * sampler seeded with blockSeed(seed, k). Restoring to batch i starts block floor(i / blockSize) and
 * draws (and drops) the i mod blockSize batches before it, so a resume costs at most blockSize - 1
 * batch assemblies and needs nothing from the sampler but determinism from its seed.
 */
export function seededBlocks(open: (seed: number) => SeededStream, seed: number, blockSize = 1000): BatchSource {
  if (typeof open !== 'function') throw invalidParameterError('seededBlocks: open', 'a function (seed) => sampler', open);
  nonNegativeSafeInt(seed, 'seed');
  positiveInt(blockSize, 'blockSize');
  let drawn = 0;
  let stream: SeededStream | undefined;

  const pull = async (): Promise<Batch> => {
    if (!stream || drawn % blockSize === 0) {
      stream?.close?.();
      stream = open(blockSeed(seed, Math.floor(drawn / blockSize)));
    }
    const r = await stream.next();
    if (r.done) throw new KDSError('E_STATE', 'the training sampler ended; fit needs an endless stream of batches');
    drawn++;
    return r.value;
  };

  return {
    next: pull,
    state: () => ({ seed, blockSize, drawn }),
    async restore(state: unknown) {
      const s = state as { seed?: unknown; blockSize?: unknown; drawn?: unknown } | null;
      if (!s || s.seed !== seed || s.blockSize !== blockSize || !Number.isInteger(s.drawn) || (s.drawn as number) < 0)
        throw new KDSError(
          'E_STATE',
          `the checkpoint's sampler state ${JSON.stringify(state)} does not fit this run (seed ${seed}, blockSize ${blockSize})`,
        );
      stream?.close?.();
      stream = undefined;
      const target = s.drawn as number;
      drawn = target - (target % blockSize);
      while (drawn < target) disposeBatch(await pull());
    },
    close() {
      stream?.close?.();
      stream = undefined;
    },
  };
}

/** Frees a batch's native tensors (no-op for plain { data, shape } batches). */
export function disposeBatch(batch: Batch): void {
  for (const t of [batch.lr, batch.hr]) {
    const d = (t as { dispose?: () => void }).dispose;
    if (typeof d === 'function') d.call(t);
  }
}

export function isBatchSource(value: unknown): value is BatchSource {
  const v = value as Partial<BatchSource> | null;
  return typeof v === 'object' && v !== null && typeof v.next === 'function' && typeof v.state === 'function' && typeof v.restore === 'function';
}
