// Random training patches from a dataset. The choices (image, position, symmetry) are drawn here from
// a seeded generator, in batch order, so a seed fixes the whole stream; decoding (sharp) and cropping,
// transforming and stacking (the core) run off the JS thread, `prefetch` batches ahead.
import { awaitNative, KDSError } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import { boolean, checkOptions, invalidParameterError, nonNegativeInt, nonNegativeSafeInt, oneOf, positiveInt } from '../validate';
import { Dataset } from './datasets';
import { Random } from './rng';
import { checkScale } from './scale';

export interface SamplerOptions {
  /** LR patch side in pixels; the HR patch is scale times larger. Default 48. */
  patchSize?: number;
  /** Patches per batch. Default 16. */
  batchSize?: number;
  /** Must equal the dataset's scale (the default). */
  scale?: number;
  /** Seed of the patch choices; the same seed and dataset give the same batches. Default: random (see `sampler.seed`). */
  seed?: number;
  /** Random flips and 90-degree rotations (the 8 symmetries of the square, equally likely). Default true. */
  augment?: boolean;
  /** Batches prepared in the background beyond the one being consumed. Default 2. */
  prefetch?: number;
  /**
   * 'pairs' (default): LR patches with their HR patches. 'photo': patches of the HR photograph itself,
   * as inputs without targets (`lr` and `hr` are the same patch): for teacher-labelled data, where the
   * teacher's output on the patch is the target.
   */
  crops?: 'pairs' | 'photo';
}

/** A training batch, ready for `kds.train(batch.lr, batch.hr)`: float [n, 3, p, p] and [n, 3, s*p, s*p], 0..255. */
export interface Batch {
  lr: Tensor;
  hr: Tensor;
}

const OPTION_KEYS = ['patchSize', 'batchSize', 'scale', 'seed', 'augment', 'prefetch', 'crops'];

/** An endless async iterator of batches; `close()` (or `break` in a for-await loop) stops it. */
export class Sampler implements AsyncIterableIterator<Batch> {
  readonly patchSize: number;
  readonly batchSize: number;
  readonly scale: number;
  readonly seed: number;
  readonly augment: boolean;
  readonly prefetch: number;
  readonly crops: 'pairs' | 'photo';
  readonly #dataset: Dataset;
  readonly #random: Random;
  #queue: Promise<Batch>[] = [];
  #checked: Promise<void> | undefined;
  #closed = false;

  /** @internal Use {@link createSampler}. */
  constructor(dataset: Dataset, options: SamplerOptions) {
    if (!(dataset instanceof Dataset)) throw invalidParameterError('dataset', 'a kds Dataset (from datasets.folder/div2k/benchmark)', dataset);
    checkOptions(options, 'sampler options', OPTION_KEYS);
    this.#dataset = dataset;
    this.patchSize = positiveInt(options.patchSize ?? 48, 'patchSize');
    this.batchSize = positiveInt(options.batchSize ?? 16, 'batchSize');
    this.scale = checkScale(options.scale ?? dataset.scale);
    if (this.scale !== dataset.scale) throw new KDSError('E_ARG', `scale ${this.scale} differs from the dataset's scale ${dataset.scale}`);
    this.seed = nonNegativeSafeInt(options.seed ?? Math.floor(Math.random() * 2 ** 32), 'seed');
    this.#random = new Random(this.seed);
    this.augment = boolean(options.augment ?? true, 'augment');
    this.prefetch = nonNegativeInt(options.prefetch ?? 2, 'prefetch');
    this.crops = oneOf(options.crops ?? 'pairs', 'crops', ['pairs', 'photo'] as const);
  }

  /** The next batch. Errors (unreadable file, image smaller than a patch) reject here. */
  next(): Promise<IteratorResult<Batch>> {
    if (this.#closed) return Promise.resolve({ done: true, value: undefined });
    if (this.#queue.length === 0) this.#queue.push(this.#schedule());
    const batch = this.#queue.shift() as Promise<Batch>;
    while (this.#queue.length < this.prefetch) this.#queue.push(this.#schedule());
    return batch.then((value) => ({ done: false, value }));
  }

  /** Stops the iterator; batches still being prepared are dropped. */
  close(): void {
    this.#closed = true;
    this.#queue = [];
  }

  return(): Promise<IteratorResult<Batch>> {
    this.close();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  // Before the first batch: every image must hold a patch (header reads only, no decoding).
  async #check(): Promise<void> {
    const p = this.patchSize;
    const factor = this.crops === 'photo' ? this.scale : 1; // photo crops are cut from HR
    const small = (await this.#dataset.lrSizes()).filter((s) => s.height * factor < p || s.width * factor < p);
    if (small.length > 0) {
      const list = small.slice(0, 3).map((s) => `'${s.file}' (LR ${s.height} x ${s.width})`).join(', ');
      throw new KDSError(
        'E_SHAPE',
        `${small.length} image(s) of ${this.#dataset.name} are smaller than an LR patch of ${p} x ${p} (HR ${p * this.scale} x ${p * this.scale}): ${list}${small.length > 3 ? ', ...' : ''}. ` +
          'Remove them or use a smaller patchSize.',
      );
    }
  }

  #schedule(): Promise<Batch> {
    // Draw now, in call order: the stream depends on the seed only, not on decoding speed.
    const picks = Array.from({ length: this.batchSize }, () => {
      const image = this.#random.int(this.#dataset.length);
      const y = this.#random.next(), x = this.#random.next();
      const transform = this.#random.int(8);
      return { image, y, x, transform: this.augment ? transform : 0 };
    });
    if (!this.#checked) this.#checked = this.#check();
    const work = this.#assemble(this.#checked, picks);
    work.catch(() => undefined); // reported when the batch is consumed, not as an unhandled rejection
    return work;
  }

  async #assemble(checked: Promise<void>, picks: { image: number; y: number; x: number; transform: number }[]): Promise<Batch> {
    await checked;
    const images = [...new Set(picks.map((p) => p.image))];
    const raws = await Promise.all(images.map((i) => this.#dataset.loadRaw(i)));
    const slot = new Map(images.map((image, k) => [image, k]));
    const p = this.patchSize;
    const photo = this.crops === 'photo';
    const inputs = raws.map((r) => (photo ? r.hr : r.lr));
    const specs = new Int32Array(4 * picks.length);
    picks.forEach((pick, b) => {
      const k = slot.get(pick.image) as number;
      const [, , height, width] = inputs[k].shape;
      specs.set([k, Math.floor(pick.y * (height - p + 1)), Math.floor(pick.x * (width - p + 1)), pick.transform], 4 * b);
    });
    const out = await awaitNative(() =>
      photo ? native().assembleBatch(inputs, inputs, specs, p, 1) : native().assembleBatch(inputs, raws.map((r) => r.hr), specs, p, this.scale),
    );
    return { lr: new Tensor(out.lr), hr: new Tensor(out.hr) };
  }
}

/** Random LR/HR training patches from `dataset`; see {@link SamplerOptions} for the defaults. */
export function createSampler(dataset: Dataset, options: SamplerOptions = {}): Sampler {
  return new Sampler(dataset, options);
}
