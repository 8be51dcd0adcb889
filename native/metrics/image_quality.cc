// PSNR and SSIM on luminance, as SR papers report them (EDSR/RCAN's calc_psnr; Wang et al.'s SSIM).
#include <cmath>
#include <limits>

#include "api/metrics.h"
#include "core/runtime.h"
#include "core/torch_tensor.h"
#include "data/image_tensor.h"

namespace kds {
namespace {

// EDSR's quantize: clamp, then torch.round (halves to even), in the SR tensor's own dtype as EDSR does.
torch::Tensor quantize(const torch::Tensor& image) {
  if (image.scalar_type() == torch::kByte) return image;
  return image.clamp(0, 255).round();
}

// Y = 16 + (65.738 R + 129.057 G + 25.064 B) / 256 (EDSR's gray_coeffs, BT.601) of [1, 3, h, w], float64.
torch::Tensor luma(const torch::Tensor& rgb) {
  auto x = rgb.to(torch::kDouble)[0];
  return x[0].mul(65.738 / 256).add_(x[1], 129.057 / 256).add_(x[2], 25.064 / 256).add_(16);
}

// 'valid' filtering of [k, h, w] with the separable window g: sums of shifted views, no im2col.
torch::Tensor filterValid(const torch::Tensor& x, const std::vector<double>& g) {
  const int64_t n = static_cast<int64_t>(g.size());
  const int64_t h = x.size(1) - n + 1, w = x.size(2) - n + 1;
  auto vertical = x.narrow(1, 0, h).mul(g[0]);
  for (int64_t k = 1; k < n; ++k) vertical.add_(x.narrow(1, k, h), g[k]);
  auto both = vertical.narrow(2, 0, w).mul(g[0]);
  for (int64_t k = 1; k < n; ++k) both.add_(vertical.narrow(2, k, w), g[k]);
  return both;
}

double ssimOnLuma(const torch::Tensor& a, const torch::Tensor& b) {
  constexpr int64_t kWindow = 11;
  constexpr double kSigma = 1.5, kC1 = (0.01 * 255) * (0.01 * 255), kC2 = (0.03 * 255) * (0.03 * 255);
  // Normalised 1-D Gaussian; the 2-D window is its outer product.
  std::vector<double> g(kWindow);
  double sum = 0;
  for (int64_t k = 0; k < kWindow; ++k) sum += g[k] = std::exp(-std::pow(k - (kWindow - 1) / 2.0, 2) / (2 * kSigma * kSigma));
  for (auto& v : g) v /= sum;
  // The five local moments in one pass over the window.
  auto m = filterValid(torch::stack({a, b, a * a, b * b, a * b}), g);
  auto muA = m[0], muB = m[1];
  auto varA = m[2] - muA * muA, varB = m[3] - muB * muB, cov = m[4] - muA * muB;
  auto map = ((2 * muA * muB + kC1) * (2 * cov + kC2)) / ((muA * muA + muB * muB + kC1) * (varA + varB + kC2));
  return map.mean().item<double>();
}

}  // namespace

Quality imageQuality(const Tensor& sr, const Tensor& hr, const QualityOptions& options) {
  applyThreadSettings();
  torch::NoGradGuard noGrad;
  const auto a = singleImage(unwrap(sr), "sr");
  const auto b = singleImage(unwrap(hr), "hr");
  if (a.sizes() != b.sizes())
    throw Error(ErrorCode::Shape, "sr " + shapeToString(a.sizes().vec()) + " and hr " + shapeToString(b.sizes().vec()) +
                                      " must have the same size (crop HR to a multiple of the scale first)");
  const int64_t shave = options.shave;
  if (shave < 0) throw Error(ErrorCode::Argument, "shave must be >= 0, got " + std::to_string(shave));
  const int64_t height = a.size(2) - 2 * shave, width = a.size(3) - 2 * shave;
  const int64_t minSize = options.ssim ? 11 : 1;
  if (height < minSize || width < minSize)
    throw Error(ErrorCode::Shape, "images of " + std::to_string(a.size(2)) + " x " + std::to_string(a.size(3)) + " pixels leave " +
                                      std::to_string(std::max<int64_t>(height, 0)) + " x " + std::to_string(std::max<int64_t>(width, 0)) +
                                      " after shaving " + std::to_string(shave) + " border pixels; " +
                                      (options.ssim ? "SSIM needs at least 11 x 11" : "PSNR needs at least 1 x 1"));
  return translateTorchErrors(ErrorCode::Internal, "image quality", [&] {
    auto lumaA = luma(quantize(a.narrow(2, shave, height).narrow(3, shave, width)));
    auto lumaB = luma(quantize(b.narrow(2, shave, height).narrow(3, shave, width)));
    Quality q;
    q.psnr = q.ssim = std::numeric_limits<double>::quiet_NaN();
    if (options.psnr) {
      const double mse = (lumaA - lumaB).div(255).pow(2).mean().item<double>();
      q.psnr = mse == 0 ? std::numeric_limits<double>::infinity() : -10 * std::log10(mse);
    }
    if (options.ssim) q.ssim = ssimOnLuma(lumaA, lumaB);
    return q;
  });
}

}  // namespace kds
