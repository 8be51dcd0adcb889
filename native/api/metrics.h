// Image quality as super-resolution papers report it.
#pragma once
#include <cstdint>

#include "api/tensor.h"

namespace kds {

// No defaults here: lib/ sets every field.
struct QualityOptions {
  int64_t shave{};  // border pixels ignored on every side (SR papers: the scale)
  bool psnr{};
  bool ssim{};
};

struct Quality {
  double psnr = 0;  // dB; +infinity for identical images
  double ssim = 0;
};

// Compares one SR image with its HR reference ([1, 3, H, W] or [3, H, W], float or 8-bit, same size).
// Both are clamped to 0..255 and rounded to integers first (EDSR's quantize). Then, on the luminance
// Y = 16 + (65.738 R + 129.057 G + 25.064 B) / 256 with `shave` border pixels cut:
//  - PSNR = 10 log10(255^2 / MSE(Y_sr - Y_hr)), as EDSR/RCAN's calc_psnr;
//  - SSIM: Wang et al. 2004, Gaussian window 11 x 11 with sigma 1.5, K1 0.01, K2 0.03, L 255, only
//    windows fully inside the image ('valid'), mean over the map.
// Work is in float64.
Quality imageQuality(const Tensor& sr, const Tensor& hr, const QualityOptions& options);

}  // namespace kds
