// A model on a dataset, scored as SR papers do, with the bicubic baseline beside it.
import { awaitNative, KDSError } from './errors';
import { Dataset } from './data/datasets';
import { checkScale } from './data/scale';
import { Model } from './models';
import { native, NativeTensor } from './native';
import { tilingOptions, UpscaleOptions } from './upscale';
import { boolean, checkOptions, invalidParameterError } from './validate';

export interface EvaluateOptions extends UpscaleOptions {
  /** Must equal the dataset's scale (the default); it is also the border shaved before measuring. */
  scale?: number;
  /** Also score bicubic upscaling (MATLAB imresize) of the LR images. Default true. */
  bicubic?: boolean;
}

export interface Scores {
  psnr: number;
  ssim: number;
}

export interface ImageScores extends Scores {
  name: string;
  /** The bicubic baseline on this image. */
  bicubic?: Scores;
}

export interface Evaluation {
  dataset: string;
  scale: number;
  images: ImageScores[];
  /** Means over the images (the numbers SR papers print). */
  mean: Scores;
  bicubic?: Scores;
}

function mean(rows: Scores[]): Scores {
  const n = rows.length;
  return { psnr: rows.reduce((a, r) => a + r.psnr, 0) / n, ssim: rows.reduce((a, r) => a + r.ssim, 0) / n };
}

/**
 * Upscales every LR image of `dataset` with `model` (tiled, see {@link UpscaleOptions}) and measures
 * PSNR/SSIM against HR on Y with a border of `scale` pixels shaved (see psnr/ssim).
 */
export async function evaluate(model: Model, dataset: Dataset, options: EvaluateOptions = {}): Promise<Evaluation> {
  if (!(model instanceof Model)) throw invalidParameterError('model', 'a kds Model', model);
  if (!(dataset instanceof Dataset)) throw invalidParameterError('dataset', 'a kds Dataset', dataset);
  checkOptions(options, 'evaluate options', ['scale', 'bicubic', 'tile', 'overlap']);
  const { scale: scaleOption, bicubic: bicubicOption, ...tiling } = options;
  const scale = checkScale(scaleOption ?? dataset.scale);
  if (scale !== dataset.scale) throw new KDSError('E_ARG', `scale ${scale} differs from the dataset's scale ${dataset.scale}`);
  if (model.scale !== null && model.scale !== scale) throw new KDSError('E_ARG', `the model upscales x${model.scale} but the dataset is x${scale}`);
  const bicubic = boolean(bicubicOption ?? true, 'bicubic');
  const { tile, overlap } = tilingOptions(tiling);
  const images: ImageScores[] = [];
  for (let i = 0; i < dataset.length; i++) {
    const raw = await dataset.loadRaw(i);
    const lr = await awaitNative(() => native().imageToFloat(raw.lr));
    const sr = await awaitNative(() => native().upscaleTiled(model.native, lr, tile, overlap));
    const name = dataset.names[i];
    checkSameSize(sr, raw.hr, `the model's output for '${name}'`);
    const q = await awaitNative(() => native().imageQuality(sr, raw.hr, { shave: scale, psnr: true, ssim: true }));
    const row: ImageScores = { name, psnr: q.psnr, ssim: q.ssim };
    lr.dispose();
    sr.dispose();
    if (bicubic) {
      const [, , h, w] = raw.hr.shape;
      const up = await awaitNative(() => native().resizeBicubic(raw.lr, h, w, scale, scale, true));
      const b = await awaitNative(() => native().imageQuality(up, raw.hr, { shave: scale, psnr: true, ssim: true }));
      up.dispose();
      row.bicubic = { psnr: b.psnr, ssim: b.ssim };
    }
    images.push(row);
  }
  const result: Evaluation = { dataset: dataset.name, scale, images, mean: mean(images) };
  if (bicubic) result.bicubic = mean(images.map((r) => r.bicubic as Scores));
  return result;
}

function checkSameSize(a: NativeTensor, b: NativeTensor, what: string): void {
  const sa = a.shape, sb = b.shape;
  if (sa.join() !== sb.join()) throw new KDSError('E_SHAPE', `${what} is [${sa.join(', ')}] but HR is [${sb.join(', ')}]; is the model's scale right?`);
}

/** The evaluation as a plain-text table: one row per image, then the mean. */
export function formatEvaluation(e: Evaluation): string {
  const withBicubic = e.bicubic !== undefined;
  const header = ['image', 'PSNR', 'SSIM', ...(withBicubic ? ['bicubic PSNR', 'bicubic SSIM'] : [])];
  const cells = (name: string, s: Scores, b?: Scores) => [
    name, s.psnr.toFixed(3), s.ssim.toFixed(4), ...(withBicubic && b ? [b.psnr.toFixed(3), b.ssim.toFixed(4)] : []),
  ];
  const rows = [header, ...e.images.map((r) => cells(r.name, r, r.bicubic)), cells('mean', e.mean, e.bicubic)];
  const widths = header.map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [`${e.dataset} x${e.scale}`, line(header), ...rows.slice(1).map(line)].join('\n');
}
