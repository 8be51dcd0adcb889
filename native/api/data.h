// Images and training batches as the glue sees them. Two kinds of image tensor cross this interface:
//  - 8-bit images: uint8 [1, 3, H, W] (what datasets cache: a quarter of float's memory);
//  - float images: float32 [N, 3, H, W] on 0..255 (what models, metrics and users see).
// Every function runs on the calling thread (the glue calls them from worker threads).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "api/model.h"
#include "api/tensor.h"

namespace kds {

// Interleaved 8-bit pixels (row-major H x W x channels, as image decoders produce them) -> 8-bit image.
// channels 1 (gray) and 2 (gray + alpha) are replicated to RGB; 3 is RGB; 4 is RGBA. An alpha channel
// is dropped when every pixel is opaque; any transparent pixel is an E_SHAPE error naming `name`.
// cropHeight/cropWidth > 0 keep only the top-left cropHeight x cropWidth pixels.
TensorPtr imageFromPixels(const uint8_t* pixels, int64_t height, int64_t width, int channels, const std::string& name,
                          int64_t cropHeight = 0, int64_t cropWidth = 0);

struct Pixels {
  std::vector<uint8_t> data;  // H x W x 3, row-major
  int64_t height = 0, width = 0;
};
// One image ([1, 3, H, W] or [3, H, W], float or 8-bit) -> interleaved RGB bytes, clamped to 0..255
// and rounded half away from zero.
Pixels imageToPixels(const Tensor& image);

// An 8-bit or float image batch -> float32 [N, 3, H, W] on the CPU.
TensorPtr imageToFloat(const Tensor& image);

// MATLAB's imresize(x, [outHeight outWidth], 'bicubic') with its default antialiasing when shrinking:
// cubic kernel a = -0.5, widened by 1/scale when scale < 1, mirrored borders, the dimension that
// shrinks most resized first (height first on ties). scaleH/scaleW are the factors MATLAB uses
// (outHeight/H when the size is given). Computed in float64 without rounding between the two passes.
// An 8-bit input gives an 8-bit output (clamped to 0..255 and rounded half away from zero, as MATLAB
// does for uint8); a float input keeps its dtype and is rounded the same way only when `round` is set.
TensorPtr resizeBicubic(const Tensor& image, int64_t outHeight, int64_t outWidth, double scaleH, double scaleW, bool round = false);

// One training patch: an LR crop at (top, left) of image `image`, the HR crop at (scale*top, scale*left),
// both transformed by `transform` (bit 0: mirror left-right, bit 1: mirror top-bottom, bit 2: swap
// rows and columns; the 8 values are the 8 symmetries of the square).
struct PatchSpec {
  int64_t image = 0;
  int64_t top = 0;
  int64_t left = 0;
  int transform = 0;
};

struct PatchBatch {
  TensorPtr lr;  // float32 [B, 3, patch, patch]
  TensorPtr hr;  // float32 [B, 3, scale*patch, scale*patch]
};

// Crops, transforms and stacks patches of 8-bit LR/HR image pairs (lr[i] is HR hr[i] shrunk by `scale`).
PatchBatch assembleBatch(const std::vector<TensorPtr>& lr, const std::vector<TensorPtr>& hr,
                         const std::vector<PatchSpec>& patches, int64_t patchSize, int64_t scale);

// Runs `model` over `input` (float [N, 3, H, W]) in tiles of tile x tile input pixels, each widened by
// `overlap` pixels of context on every side that are run but discarded, and returns the stitched
// float32 output on the CPU. An output pixel is exactly the untiled one when the model's receptive
// field reaches at most `overlap` input pixels. tile <= 0 runs the whole input at once.
TensorPtr upscaleTiled(Model& model, const Tensor& input, int64_t tile, int64_t overlap);

}  // namespace kds
