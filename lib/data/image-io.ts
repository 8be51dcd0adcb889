// Image files in and out. sharp (libvips) decodes and encodes on its own threads; the core turns the
// decoded bytes into tensors. PNG, JPEG and WebP are read; PNG is written.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file';
import { awaitNative, KDSError } from '../errors';
import { native, NativeTensor, NativeTensorArg } from '../native';
import { checkTensorData, Tensor, TensorData, TensorLike } from '../tensor';
import { invalidParameterError, nonEmptyString } from '../validate';

/** An image argument: a file path, a {@link Tensor} or `{ data, shape }` ([1, 3, h, w] or [3, h, w], 0..255). */
export type ImageInput = string | TensorLike;

type SharpModule = typeof import('sharp');
let sharpModule: SharpModule | undefined;

function sharp(): SharpModule {
  if (!sharpModule) {
    try {
      sharpModule = require('sharp') as SharpModule;
    } catch (err) {
      throw new KDSError('E_NATIVE', `kds: the image library sharp could not be loaded (${(err as Error).message.split('\n')[0]}); reinstall kds's dependencies`, { cause: err });
    }
  }
  return sharpModule;
}

/** Bytes as a decoder produced them: interleaved, `channels` per pixel. */
export interface DecodedPixels {
  file: string;
  data: Buffer;
  height: number;
  width: number;
  channels: number;
}

async function checkFile(file: unknown, what: string): Promise<string> {
  if (typeof file !== 'string' || file.length === 0) throw invalidParameterError(what, 'a non-empty path', file);
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch {
    throw new KDSError('E_FILE', `${what} '${file}' does not exist`);
  }
  if (!stat.isFile()) throw new KDSError('E_FILE', `${what} '${file}' is not a file`);
  return file;
}

function unreadable(file: string, err: unknown): KDSError {
  const reason = (err as Error).message.split('\n')[0];
  return new KDSError('E_FILE', `'${file}' is not a readable PNG, JPEG or WebP image (${reason})`, { cause: err });
}

/**
 * Decodes a file to 8-bit pixels. Truncated or corrupt files are errors (sharp's failOn 'warning').
 * 16-bit images are reduced to 8 bits; gray images come back as 3 equal channels. EXIF orientation is
 * ignored, as MATLAB's imread and the SR toolkits ignore it.
 */
export async function decodePixels(file: string): Promise<DecodedPixels> {
  await checkFile(file, 'image file');
  try {
    const { data, info } = await sharp()(file, { failOn: 'warning' }).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { file, data, height: info.height, width: info.width, channels: info.channels };
  } catch (err) {
    throw unreadable(file, err);
  }
}

/** Width and height from the file's header, without decoding it. */
export async function imageSize(file: string): Promise<{ height: number; width: number }> {
  await checkFile(file, 'image file');
  let meta: { height?: number; width?: number };
  try {
    meta = await sharp()(file).metadata();
  } catch (err) {
    throw unreadable(file, err);
  }
  if (!meta.height || !meta.width) throw new KDSError('E_FILE', `'${file}' has no image size in its header`);
  return { height: meta.height, width: meta.width };
}

/**
 * Decoded pixels -> an 8-bit image in the core ([1, 3, h, w] uint8), keeping the top-left
 * crop.height x crop.width pixels when `crop` is given. Opaque alpha is dropped; transparency is E_SHAPE.
 */
export function pixelsToImage(pixels: DecodedPixels, crop?: { height: number; width: number }): Promise<NativeTensor> {
  return awaitNative(() =>
    native().imageFromPixels(pixels.data, pixels.height, pixels.width, pixels.channels, pixels.file, crop?.height ?? 0, crop?.width ?? 0),
  );
}

/** Reads a PNG, JPEG or WebP file as a float Tensor [1, 3, h, w] with values 0..255. */
export async function readImage(file: string): Promise<Tensor> {
  const image = await pixelsToImage(await decodePixels(file));
  return new Tensor(await awaitNative(() => native().imageToFloat(image)));
}

/**
 * Writes one image ([1, 3, h, w] or [3, h, w], 0..255) as a PNG, atomically: the file appears complete
 * or not at all. Values are clamped to 0..255 and rounded.
 */
export async function writeImage(file: string, image: TensorLike): Promise<void> {
  nonEmptyString(file, 'path');
  if (path.extname(file).toLowerCase() !== '.png') throw new KDSError('E_ARG', `writeImage writes PNG files: '${file}' must end in .png`);
  const pixels = await awaitNative(() => native().imageToPixels(imageTensorArg(image, 'image')));
  const png = await sharp()(pixels.data, { raw: { width: pixels.width, height: pixels.height, channels: 3 } }).png().toBuffer();
  try {
    await writeFileAtomic(file, png);
  } catch (err) {
    throw new KDSError('E_FILE', `could not write '${file}': ${(err as Error).message}`, { cause: err });
  }
}

/** Validates a one-image tensor argument ([1, 3, h, w] or [3, h, w]) and returns what the addon takes. */
export function imageTensorArg(value: unknown, name: string): NativeTensor | NativeTensorArg {
  const shape = value instanceof Tensor ? value.shape : checkTensorData(value, name).shape;
  const ok = (shape.length === 4 && shape[0] === 1 && shape[1] === 3) || (shape.length === 3 && shape[0] === 3);
  if (!ok || shape[shape.length - 1] < 1 || shape[shape.length - 2] < 1)
    throw new KDSError('E_SHAPE', `${name} must be one RGB image of shape [1, 3, h, w] or [3, h, w], got [${shape.join(', ')}]`);
  return value instanceof Tensor ? value.native : (value as TensorData);
}

/** A path is read; a Tensor or { data, shape } is checked. */
export async function resolveImage(value: ImageInput, name: string): Promise<NativeTensor | NativeTensorArg> {
  if (typeof value === 'string') return (await readImage(value)).native;
  return imageTensorArg(value, name);
}
