// Whole images through a model, tiled so that large images fit in memory.
import { awaitNative } from './errors';
import { ImageInput, resolveImage, writeImage } from './data/image-io';
import { openOnnx, upscaleOnnxTiled } from './export/onnx-runtime';
import { Model } from './models';
import { native, NativeTensor, NativeTensorArg } from './native';
import { Tensor } from './tensor';
import { checkOptions, invalidParameterError, nonNegativeInt } from './validate';

export interface UpscaleOptions {
  /** Tile side in input pixels; 0 runs the whole image at once. Default 256. */
  tile?: number;
  /**
   * Input pixels of context run around each tile and discarded. When it covers the model's receptive
   * field the result equals the untiled one; EDSR-baseline (16 blocks) sees 36 pixels. Default 32.
   */
  overlap?: number;
}

/** @internal */
export function tilingOptions(options: UpscaleOptions): { tile: number; overlap: number } {
  checkOptions(options, 'upscale options', ['tile', 'overlap']);
  return { tile: nonNegativeInt(options.tile ?? 256, 'tile'), overlap: nonNegativeInt(options.overlap ?? 32, 'overlap') };
}

/**
 * Super-resolves one image (a file path, Tensor or `{ data, shape }`, 0..255) with `model`, tile by
 * tile, and returns the float result [1, 3, s*h, s*w]; writes it as PNG to `output` when given.
 * `model` is a kds Model (run by LibTorch) or the path of an `.onnx` file (run by ONNX Runtime, as
 * `model.exportOnnx` writes them). `upscale(model, input, options)` is accepted too.
 */
export async function upscale(model: Model | string, input: ImageInput, output?: string | UpscaleOptions, options: UpscaleOptions = {}): Promise<Tensor> {
  const onnxPath = typeof model === 'string';
  if ((onnxPath && !model.toLowerCase().endsWith('.onnx')) || (!onnxPath && !(model instanceof Model)))
    throw invalidParameterError('model', 'a kds Model or the path of an .onnx file', model);
  if (typeof output === 'object' && output !== null) {
    options = output;
    output = undefined;
  }
  if (output !== undefined && (typeof output !== 'string' || !output.toLowerCase().endsWith('.png')))
    throw invalidParameterError('output', 'a path ending in .png', output);
  const { tile, overlap } = tilingOptions(options);
  const image = await resolveImage(input, 'input');
  const sr = typeof model === 'string'
    ? await upscaleOnnx(model, image, tile, overlap)
    : new Tensor(await awaitNative(() => native().upscaleTiled(model.native, image, tile, overlap)));
  if (output !== undefined) await writeImage(output, sr);
  return sr;
}

async function upscaleOnnx(file: string, image: NativeTensor | NativeTensorArg, tile: number, overlap: number): Promise<Tensor> {
  const session = await openOnnx(file);
  try {
    const data = 'toFloat32Array' in image ? image.toFloat32Array() : image.data;
    const shape = 'toFloat32Array' in image ? image.shape : [...image.shape];
    const sr = await upscaleOnnxTiled(session, data, shape.length === 3 ? [1, ...shape] : shape, tile, overlap);
    return Tensor.from(sr);
  } finally {
    await session.release();
  }
}
