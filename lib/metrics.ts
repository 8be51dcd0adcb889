// PSNR and SSIM as super-resolution papers report them: on luminance (Y of YCbCr, BT.601), SR rounded
// to 0..255 integers, a border of `scale` pixels ignored. The computation is in the core (float64).
import { awaitNative } from './errors';
import { ImageInput, resolveImage } from './data/image-io';
import { native } from './native';
import { checkOptions, nonNegativeInt, positiveInt } from './validate';

export interface MetricOptions {
  /** The SR scale; the border shaved on each side defaults to it. */
  scale?: number;
  /** Border pixels ignored on each side. Default: `scale`, or 0 without a scale. */
  shave?: number;
}

export interface Quality {
  psnr: number;
  ssim: number;
}

function shaveOf(options: MetricOptions, what: string): number {
  checkOptions(options, `${what}: options`, ['scale', 'shave']);
  const { scale, shave } = options;
  if (scale !== undefined) positiveInt(scale, `${what}: scale`);
  return nonNegativeInt(shave ?? scale ?? 0, `${what}: shave`);
}

/** @internal PSNR and/or SSIM of one pair. */
export async function measure(sr: ImageInput, hr: ImageInput, shave: number, which: { psnr: boolean; ssim: boolean }): Promise<Quality> {
  const [a, b] = await Promise.all([resolveImage(sr, 'sr'), resolveImage(hr, 'hr')]);
  return awaitNative(() => native().imageQuality(a, b, { shave, ...which }));
}

/**
 * PSNR in dB on Y = 16 + (65.738 R + 129.057 G + 25.064 B) / 256 (EDSR/RCAN's calc_psnr). Both images
 * are clamped to 0..255 and rounded first; `Infinity` when they are equal. Arguments: file paths,
 * Tensors or `{ data, shape }`, one image each ([1, 3, h, w] or [3, h, w]) of the same size.
 */
export async function psnr(sr: ImageInput, hr: ImageInput, options: MetricOptions = {}): Promise<number> {
  return (await measure(sr, hr, shaveOf(options, 'psnr'), { psnr: true, ssim: false })).psnr;
}

/**
 * SSIM (Wang et al. 2004) on the same Y: Gaussian window 11 x 11, sigma 1.5, K1 0.01, K2 0.03, L 255,
 * windows fully inside the shaved image, mean of the map.
 */
export async function ssim(sr: ImageInput, hr: ImageInput, options: MetricOptions = {}): Promise<number> {
  return (await measure(sr, hr, shaveOf(options, 'ssim'), { psnr: false, ssim: true })).ssim;
}
