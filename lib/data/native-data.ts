// The addon's image, batch, upscale and metric functions, typed (native/glue/data_wrap.cc).
// Internal: lib/data, lib/metrics.ts and lib/upscale.ts wrap them for users.
import type { NativeModel, NativeTensor, NativeTensorArg } from '../native';

export interface NativePixels {
  /** H x W x 3 bytes, row-major. */
  data: Buffer;
  height: number;
  width: number;
}

export interface NativeQuality {
  psnr: number;
  ssim: number;
}

export interface NativeDataAddon {
  /** Interleaved bytes -> 8-bit image [1, 3, H, W] (uint8), optionally cropped to its top-left part. */
  imageFromPixels(
    pixels: Uint8Array, height: number, width: number, channels: number, name: string, cropHeight: number, cropWidth: number,
  ): Promise<NativeTensor>;
  imageToPixels(image: NativeTensor | NativeTensorArg): Promise<NativePixels>;
  imageToFloat(image: NativeTensor): Promise<NativeTensor>;
  /** MATLAB imresize bicubic; 8-bit in, 8-bit out; float in, float out (rounded to 0..255 integers when `round`). */
  resizeBicubic(
    image: NativeTensor | NativeTensorArg, outHeight: number, outWidth: number, scaleH: number, scaleW: number, round: boolean,
  ): Promise<NativeTensor>;
  /** patches: (image, top, left, transform) per patch. */
  assembleBatch(
    lr: NativeTensor[], hr: NativeTensor[], patches: Int32Array, patchSize: number, scale: number,
  ): Promise<{ lr: NativeTensor; hr: NativeTensor }>;
  upscaleTiled(model: NativeModel, input: NativeTensor | NativeTensorArg, tile: number, overlap: number): Promise<NativeTensor>;
  imageQuality(
    sr: NativeTensor | NativeTensorArg, hr: NativeTensor | NativeTensorArg, options: { shave: number; psnr: boolean; ssim: boolean },
  ): Promise<NativeQuality>;
}
