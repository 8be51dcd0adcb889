// Small building blocks shared by the SR models, named like EDSR-PyTorch's model/common.py so that
// parameter names equal the Python state-dict keys.
#pragma once
#include <torch/torch.h>

#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kds {

// EDSR-PyTorch's default_conv: k x k, 'same' padding, with bias.
inline torch::nn::Conv2d defaultConv(int64_t in, int64_t out, int64_t k) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).padding(k / 2).bias(true));
}

// MeanShift: a frozen 1x1 conv that subtracts (sign -1) or adds (+1) the dataset's RGB mean on the
// rgbRange scale. It is an ordinary conv so that its weights appear in (and load from) state dicts.
torch::nn::Conv2d meanShift(double rgbRange, int sign);

// conv -> ReLU -> conv, scaled by resScale, plus the input. Its convs are body.0 and body.2.
class ResBlockImpl : public torch::nn::Module {
 public:
  ResBlockImpl(int64_t nFeats, int64_t kernel, double resScale);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential body_{nullptr};
  double resScale_;
};
TORCH_MODULE(ResBlock);

// Sub-pixel upsampler: (conv to 4F, PixelShuffle(2)) per factor 2, or (conv to 9F, PixelShuffle(3)).
// A Sequential with a plain forward, so that it can sit inside another Sequential (tail.0.*).
class UpsamplerImpl : public torch::nn::SequentialImpl {
 public:
  UpsamplerImpl(int scale, int64_t nFeats);
  torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(Upsampler);

// Weights of every Conv2d in a module tree. A stride-1 'same' conv does one multiply-add per weight per
// output pixel, so a tree of such convs that all run on an h x w map costs convWeights(tree) * h * w.
int64_t convWeights(const torch::nn::Module& module);

// Multiply-adds of an upsampler on an h x w map: each conv runs at the resolution reached so far.
int64_t upsamplerMacs(UpsamplerImpl& upsampler, int64_t h, int64_t w);

// The scale a state dict's upsampler (keys tail.0.{0,2,4}.weight) was built for, if its shapes tell:
// one conv to 9F channels is x3; one, two or three convs to 4F channels are x2, x4, x8.
std::optional<int> upsamplerScaleOf(const std::vector<std::pair<std::string, torch::Tensor>>& stateDict);

}  // namespace kds
