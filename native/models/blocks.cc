#include "models/blocks.h"

#include "api/error.h"

namespace kds {

// DIV2K's RGB mean, as in EDSR-PyTorch (std 1).
static constexpr std::array<double, 3> kRgbMean{0.4488, 0.4371, 0.4040};

torch::nn::Conv2d meanShift(double rgbRange, int sign) {
  auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 3, 1).bias(true));
  torch::NoGradGuard noGrad;
  conv->weight.copy_(torch::eye(3).view({3, 3, 1, 1}));
  for (int c = 0; c < 3; ++c) conv->bias[c].fill_(sign * rgbRange * kRgbMean[c]);
  conv->weight.set_requires_grad(false);
  conv->bias.set_requires_grad(false);
  return conv;
}

ResBlockImpl::ResBlockImpl(int64_t nFeats, int64_t kernel, double resScale) : resScale_(resScale) {
  body_ = register_module("body", torch::nn::Sequential(defaultConv(nFeats, nFeats, kernel), torch::nn::ReLU(),
                                                       defaultConv(nFeats, nFeats, kernel)));
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x) {
  auto res = body_->forward(x);
  if (resScale_ != 1.0) res = res * resScale_;
  return res + x;
}

UpsamplerImpl::UpsamplerImpl(int scale, int64_t nFeats) {
  if (scale == 2 || scale == 4 || scale == 8) {
    for (int s = scale; s > 1; s /= 2) {
      push_back(defaultConv(nFeats, 4 * nFeats, 3));
      push_back(torch::nn::PixelShuffle(2));
    }
  } else if (scale == 3) {
    push_back(defaultConv(nFeats, 9 * nFeats, 3));
    push_back(torch::nn::PixelShuffle(3));
  } else {
    throw Error(ErrorCode::Argument, "scale must be 2, 3, 4 or 8, got " + std::to_string(scale));
  }
}

}  // namespace kds
