// Bicubic resizing by an integer factor, as MATLAB's imresize does it (the way DIV2K's and the
// benchmarks' LR images were made).
import { awaitNative } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import { boolean, checkOptions } from '../validate';
import { ImageInput, resolveImage } from './image-io';
import { checkScale } from './scale';

export interface ResizeOptions {
  /** Clamp to 0..255 and round to integers (halves away from zero), as MATLAB does for 8-bit images. Default false. */
  quantize?: boolean;
}

function checkQuantize(options: ResizeOptions): boolean {
  checkOptions(options, 'resize options', ['quantize']);
  return boolean(options.quantize ?? false, 'quantize');
}

/**
 * MATLAB's imresize(image, 1/scale, 'bicubic') (antialiased): [1, 3, ceil(h/scale), ceil(w/scale)].
 * Crop the image to a multiple of the scale first for SR pairs.
 */
export async function downscaleBicubic(image: ImageInput, scale: number, options: ResizeOptions = {}): Promise<Tensor> {
  const s = checkScale(scale);
  const round = checkQuantize(options);
  const input = await resolveImage(image, 'image');
  const [height, width] = input.shape.slice(-2);
  const out = await awaitNative(() => native().resizeBicubic(input, Math.ceil(height / s), Math.ceil(width / s), 1 / s, 1 / s, round));
  return new Tensor(out);
}

/** MATLAB's imresize(image, scale, 'bicubic'): [1, 3, scale*h, scale*w] (the "Bicubic" rows of SR papers). */
export async function upscaleBicubic(image: ImageInput, scale: number, options: ResizeOptions = {}): Promise<Tensor> {
  const s = checkScale(scale);
  const round = checkQuantize(options);
  const input = await resolveImage(image, 'image');
  const [height, width] = input.shape.slice(-2);
  return new Tensor(await awaitNative(() => native().resizeBicubic(input, height * s, width * s, s, s, round)));
}
