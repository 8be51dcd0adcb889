// Datasets of HR/LR image pairs: a folder of photographs (LR made by bicubic downscaling), DIV2K's layout
// and the benchmark layout (Set5, Set14, B100, Urban100 as EDSR ships them). Decoded images are kept
// in memory, 8 bits per value, while they fit in the cache budget.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { awaitNative, KDSError } from '../errors';
import { native, NativeTensor } from '../native';
import { Tensor } from '../tensor';
import { checkOptions, intInRange, invalidParameterError, isPlainObject, oneOf } from '../validate';
import { decodePixels, imageSize, pixelsToImage } from './image-io';
import { checkScale } from './scale';

/** One evaluation or training pair: float Tensors [1, 3, h, w] and [1, 3, scale*h, scale*w], 0..255. */
export interface ImagePair {
  name: string;
  lr: Tensor;
  hr: Tensor;
}

/** @internal 8-bit images in the core, as the sampler and evaluate use them. */
export interface RawPair {
  lr: NativeTensor;
  hr: NativeTensor;
  bytes: number;
}

/** @internal */
export interface DatasetEntry {
  name: string;
  hr: string;
  lr: string | null; // null: made from HR by bicubic downscaling
}

export interface DatasetOptions {
  /** Upscaling factor (integer). Required. */
  scale: number;
  /** Bytes of decoded images kept in memory (8-bit HR + LR). Default: a quarter of the machine's memory. 0: no cache. */
  cacheBytes?: number;
}

export interface LayoutOptions extends DatasetOptions {
  /**
   * Where LR images come from. 'auto' (default): the layout's LR files when its LR folder exists, else
   * bicubic downscaling of HR. 'files': the LR files, required. 'bicubic': always downscale HR.
   */
  lr?: 'auto' | 'files' | 'bicubic';
}

export interface Div2kOptions extends LayoutOptions {
  /** 'train' (images 0001-0800, default) or 'valid' (0801-0900). */
  split?: 'train' | 'valid';
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp']);

/**
 * HR/LR pairs. HR is cropped at the bottom and right to `scale` times the LR size (a multiple of the
 * scale when LR is made from HR). Synthesised LR is MATLAB's imresize(HR, 1/scale, 'bicubic'),
 * rounded to 8 bits as a stored LR file would be.
 */
export class Dataset {
  readonly name: string;
  readonly scale: number;
  /** 'files' when LR images are read from the layout, 'bicubic' when they are made from HR. */
  readonly lrSource: 'files' | 'bicubic';
  readonly #entries: readonly DatasetEntry[];
  readonly #cacheBytes: number;
  #cachedBytes = 0;
  readonly #cache = new Map<number, RawPair>();
  readonly #loading = new Map<number, Promise<RawPair>>();

  /** @internal Use {@link datasets}. */
  constructor(name: string, scale: number, entries: DatasetEntry[], options: DatasetOptions) {
    this.name = name;
    this.scale = scale;
    this.#entries = entries;
    this.lrSource = entries.every((e) => e.lr === null) ? 'bicubic' : 'files';
    const budget = options.cacheBytes ?? Math.floor(os.totalmem() / 4);
    // Infinity is allowed: no limit.
    if (typeof budget !== 'number' || !(budget >= 0)) throw invalidParameterError('cacheBytes', 'a number >= 0', budget);
    this.#cacheBytes = budget;
  }

  get length(): number {
    return this.#entries.length;
  }

  /** Image names (file names without extension), in dataset order. */
  get names(): string[] {
    return this.#entries.map((e) => e.name);
  }

  /** The HR and LR file of image `index` (lr is null when LR is made from HR). */
  files(index: number): { hr: string; lr: string | null } {
    const e = this.#entries[this.#checkIndex(index)];
    return { hr: e.hr, lr: e.lr };
  }

  /** The images at `indices` (each at most once, in that order) as a dataset of their own, e.g. a validation split. */
  subset(indices: readonly number[], name = `${this.name} (subset)`): Dataset {
    if (!Array.isArray(indices) || indices.length === 0) throw invalidParameterError('subset: indices', 'a non-empty array', indices);
    indices.forEach((i) => this.#checkIndex(i));
    if (new Set(indices).size !== indices.length) throw new KDSError('E_ARG', `subset: indices must be different, got [${indices.join(', ')}]`);
    return new Dataset(name, this.scale, indices.map((i) => this.#entries[i]), { scale: this.scale, cacheBytes: this.#cacheBytes });
  }

  /** Decodes image pair `index` (from the cache when it is there). */
  async get(index: number): Promise<ImagePair> {
    const raw = await this.loadRaw(this.#checkIndex(index));
    const [lr, hr] = await Promise.all([raw.lr, raw.hr].map((t) => awaitNative(() => native().imageToFloat(t))));
    return { name: this.#entries[index].name, lr: new Tensor(lr), hr: new Tensor(hr) };
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ImagePair, void, undefined> {
    for (let i = 0; i < this.length; i++) yield await this.get(i);
  }

  /** @internal The 8-bit pair, decoded once and cached while the budget allows. */
  loadRaw(index: number): Promise<RawPair> {
    const cached = this.#cache.get(index);
    if (cached) return Promise.resolve(cached);
    let loading = this.#loading.get(index);
    if (!loading) {
      loading = this.#decode(this.#entries[index]).then(
        (pair) => {
          this.#loading.delete(index);
          if (this.#cachedBytes + pair.bytes <= this.#cacheBytes) {
            this.#cache.set(index, pair);
            this.#cachedBytes += pair.bytes;
          }
          return pair;
        },
        (err) => {
          this.#loading.delete(index);
          throw err;
        },
      );
      this.#loading.set(index, loading);
    }
    return loading;
  }

  /** @internal LR sizes from the file headers, without decoding (for checks before sampling). */
  async lrSizes(): Promise<{ name: string; file: string; height: number; width: number }[]> {
    const s = this.scale;
    return Promise.all(
      this.#entries.map(async (e) => {
        const size = await imageSize(e.lr ?? e.hr);
        return e.lr ? { name: e.name, file: e.lr, ...size } : { name: e.name, file: e.hr, height: Math.floor(size.height / s), width: Math.floor(size.width / s) };
      }),
    );
  }

  async #decode(e: DatasetEntry): Promise<RawPair> {
    const s = this.scale;
    if (e.lr === null) {
      const pixels = await decodePixels(e.hr);
      const lrHeight = Math.floor(pixels.height / s), lrWidth = Math.floor(pixels.width / s);
      if (lrHeight < 1 || lrWidth < 1)
        throw new KDSError('E_SHAPE', `'${e.hr}' (${pixels.height} x ${pixels.width}) is smaller than the scale ${s}`);
      const hr = await pixelsToImage(pixels, { height: lrHeight * s, width: lrWidth * s });
      const lr = await awaitNative(() => native().resizeBicubic(hr, lrHeight, lrWidth, 1 / s, 1 / s, true));
      return { hr, lr, bytes: 3 * lrHeight * lrWidth * (1 + s * s) };
    }
    const [hrPixels, lrPixels] = await Promise.all([decodePixels(e.hr), decodePixels(e.lr)]);
    if (Math.floor(hrPixels.height / s) !== lrPixels.height || Math.floor(hrPixels.width / s) !== lrPixels.width)
      throw new KDSError(
        'E_SHAPE',
        `HR '${e.hr}' (${hrPixels.height} x ${hrPixels.width}) does not match LR '${e.lr}' (${lrPixels.height} x ${lrPixels.width}) at scale ${s}`,
      );
    const [hr, lr] = await Promise.all([
      pixelsToImage(hrPixels, { height: lrPixels.height * s, width: lrPixels.width * s }),
      pixelsToImage(lrPixels),
    ]);
    return { hr, lr, bytes: 3 * lrPixels.height * lrPixels.width * (1 + s * s) };
  }

  #checkIndex(index: number): number {
    return intInRange(index, 'image index', 0, this.#entries.length - 1);
  }
}

// A dataset's options: an object (scale is required) with only the layout's keys.
function datasetOptions(options: unknown, allowed: string[], what: string): DatasetOptions {
  if (!isPlainObject(options)) throw invalidParameterError(`${what}: options`, 'an object with a scale', options);
  checkOptions(options, `${what}: options`, allowed);
  checkScale(options.scale, `${what}: scale`);
  return options as unknown as DatasetOptions;
}

function checkDir(dir: unknown, what: string): string {
  if (typeof dir !== 'string' || dir.length === 0) throw invalidParameterError(what, 'a non-empty path', dir);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new KDSError('E_FILE', `${what} '${dir}' does not exist`);
  }
  if (!stat.isDirectory()) throw new KDSError('E_FILE', `${what} '${dir}' is not a folder`);
  return dir;
}

function imageFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile() && IMAGE_EXTENSIONS.has(path.extname(d.name).toLowerCase()))
    .map((d) => d.name)
    .sort();
}

function stem(file: string): string {
  return path.basename(file, path.extname(file));
}

// LR files next to HR ones, by the layout's naming, or null entries when LR is made from HR.
function pairWithLr(hrDir: string, hrNames: string[], lrDir: string, lrName: (stem: string) => string, lr: LayoutOptions['lr'], what: string): DatasetEntry[] {
  const mode = oneOf(lr ?? 'auto', `${what}: lr`, ['auto', 'files', 'bicubic']);
  const useFiles = mode === 'files' || (mode === 'auto' && fs.existsSync(lrDir));
  if (mode === 'files') checkDir(lrDir, `${what}: LR folder`);
  return hrNames.map((file) => {
    const name = stem(file);
    if (!useFiles) return { name, hr: path.join(hrDir, file), lr: null };
    const lrFile = path.join(lrDir, lrName(name));
    if (!fs.existsSync(lrFile)) throw new KDSError('E_FILE', `${what}: LR image '${lrFile}' for HR '${file}' is missing`);
    return { name, hr: path.join(hrDir, file), lr: lrFile };
  });
}

/** Dataset factories. */
export const datasets = {
  /** Every PNG, JPEG and WebP file in `dir` (not its subfolders), sorted by name; LR by bicubic downscaling. */
  folder(dir: string, options: DatasetOptions): Dataset {
    const o = datasetOptions(options, ['scale', 'cacheBytes'], 'datasets.folder');
    checkDir(dir, 'datasets.folder: folder');
    const files = imageFiles(dir);
    if (files.length === 0) throw new KDSError('E_FILE', `datasets.folder: '${dir}' has no .png, .jpg, .jpeg or .webp files`);
    const entries = files.map((f) => ({ name: stem(f), hr: path.join(dir, f), lr: null }));
    return new Dataset(path.basename(path.resolve(dir)), o.scale, entries, o);
  },

  /** DIV2K: root/DIV2K_{split}_HR/0001.png with root/DIV2K_{split}_LR_bicubic/X{s}/0001x{s}.png. */
  div2k(root: string, options: Div2kOptions): Dataset {
    const o = datasetOptions(options, ['scale', 'cacheBytes', 'split', 'lr'], 'datasets.div2k') as Div2kOptions;
    const split = oneOf(o.split ?? 'train', 'datasets.div2k: split', ['train', 'valid']);
    checkDir(root, 'datasets.div2k: root');
    const hrDir = checkDir(path.join(root, `DIV2K_${split}_HR`), 'datasets.div2k: HR folder');
    const hrNames = imageFiles(hrDir).filter((f) => /^\d{4}\.png$/i.test(f));
    if (hrNames.length === 0) throw new KDSError('E_FILE', `datasets.div2k: '${hrDir}' has no DIV2K images (0001.png, ...)`);
    const lrDir = path.join(root, `DIV2K_${split}_LR_bicubic`, `X${o.scale}`);
    const entries = pairWithLr(hrDir, hrNames, lrDir, (n) => `${n}x${o.scale}.png`, o.lr, 'datasets.div2k');
    return new Dataset(`DIV2K ${split}`, o.scale, entries, o);
  },

  /** A benchmark set as EDSR ships them: root/name/HR/baby.png with root/name/LR_bicubic/X{s}/babyx{s}.png. */
  benchmark(root: string, name: string, options: LayoutOptions): Dataset {
    const o = datasetOptions(options, ['scale', 'cacheBytes', 'lr'], 'datasets.benchmark') as LayoutOptions;
    if (typeof name !== 'string' || name.length === 0) throw invalidParameterError('datasets.benchmark: name', "a set name such as 'Set5'", name);
    checkDir(root, 'datasets.benchmark: root');
    const hrDir = checkDir(path.join(root, name, 'HR'), `datasets.benchmark: HR folder of ${name}`);
    const hrNames = imageFiles(hrDir);
    if (hrNames.length === 0) throw new KDSError('E_FILE', `datasets.benchmark: '${hrDir}' has no images`);
    const lrDir = path.join(root, name, 'LR_bicubic', `X${o.scale}`);
    const entries = pairWithLr(hrDir, hrNames, lrDir, (n) => `${n}x${o.scale}.png`, o.lr, 'datasets.benchmark');
    return new Dataset(name, o.scale, entries, o);
  },
};
