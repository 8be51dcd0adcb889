// PSNR and SSIM on luminance, as SR papers report them (EDSR/RCAN's calc_psnr; Wang et al.'s SSIM).
#include <cmath>
#include <limits>

#include "api/metrics.h"
#include "core/runtime.h"
#include "core/torch_tensor.h"
#include "data/image_tensor.h"

namespace kds {
namespace {

// EDSR's gray_coeffs: ITU-R BT.601 luma for 0..255 RGB, scaled by 256.
torch::Tensor lumaWeights(const torch::Device& device) {
  return torch::tensor({65.738, 129.057, 25.064}, torch::TensorOptions().dtype(torch::kDouble).device(device)).div(256).view({1, 3, 1, 1});
}

// Normalised 1-D Gaussian; the 2-D window is its outer product.
torch::Tensor gaussian(int64_t size, double sigma, const torch::Device& device) {
  auto x = torch::arange(size, torch::TensorOptions().dtype(torch::kDouble).device(device)) - (size - 1) / 2.0;
  auto g = torch::exp(-(x * x) / (2 * sigma * sigma));
  return g / g.sum();
}

// 'valid' filtering of [1, 1, H, W] with the separable window.
torch::Tensor filterValid(const torch::Tensor& image, const torch::Tensor& g) {
  auto vertical = torch::conv2d(image, g.view({1, 1, -1, 1}));
  return torch::conv2d(vertical, g.view({1, 1, 1, -1}));
}

double ssimOnLuma(const torch::Tensor& a, const torch::Tensor& b) {
  constexpr int64_t kWindow = 11;
  constexpr double kSigma = 1.5, kC1 = (0.01 * 255) * (0.01 * 255), kC2 = (0.03 * 255) * (0.03 * 255);
  const auto g = gaussian(kWindow, kSigma, a.device());
  auto muA = filterValid(a, g), muB = filterValid(b, g);
  auto varA = filterValid(a * a, g) - muA * muA;
  auto varB = filterValid(b * b, g) - muB * muB;
  auto cov = filterValid(a * b, g) - muA * muB;
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
    const auto device = a.device();
    // EDSR's quantize uses torch.round (halves to even); the result only differs from MATLAB's rounding
    // on exact halves.
    auto quantA = a.to(device, torch::kDouble).clamp(0, 255).round();
    auto quantB = b.to(device, torch::kDouble).clamp(0, 255).round();
    const auto weights = lumaWeights(device);
    auto lumaA = (quantA * weights).sum(1, true).narrow(2, shave, height).narrow(3, shave, width) + 16;
    auto lumaB = (quantB * weights).sum(1, true).narrow(2, shave, height).narrow(3, shave, width) + 16;
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
