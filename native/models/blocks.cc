#include "models/blocks.h"

#include <map>

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

int64_t convWeights(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& m : module.modules(/*include_self=*/true))
    if (const auto* conv = m->as<torch::nn::Conv2dImpl>()) n += conv->weight.numel();
  return n;
}

int64_t upsamplerMacs(UpsamplerImpl& upsampler, int64_t h, int64_t w) {
  int64_t macs = 0;
  for (const auto& child : upsampler.children()) {
    if (auto* conv = child->as<torch::nn::Conv2dImpl>()) {
      macs += conv->weight.numel() * h * w;
    } else if (auto* shuffle = child->as<torch::nn::PixelShuffleImpl>()) {
      h *= shuffle->options.upscale_factor();
      w *= shuffle->options.upscale_factor();
    }
  }
  return macs;
}

std::optional<int> upsamplerScaleOf(const std::vector<std::pair<std::string, torch::Tensor>>& stateDict) {
  std::map<std::string, torch::Tensor> weights;
  for (const auto& [key, value] : stateDict)
    if (key.rfind("tail.0.", 0) == 0) weights[key] = value;
  auto first = weights.find("tail.0.0.weight");
  if (first == weights.end() || first->second.dim() != 4 || first->second.size(1) < 1) return std::nullopt;
  const int64_t f = first->second.size(1);
  if (first->second.size(0) == 9 * f) return 3;
  int scale = 1;
  for (const char* key : {"tail.0.0.weight", "tail.0.2.weight", "tail.0.4.weight"}) {
    auto it = weights.find(key);
    if (it == weights.end()) break;
    if (it->second.dim() != 4 || it->second.size(0) != 4 * f || it->second.size(1) != f) return std::nullopt;
    scale *= 2;
  }
  return scale;
}

}  // namespace kds
