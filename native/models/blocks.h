// Small building blocks shared by the SR models, named like EDSR-PyTorch's model/common.py so that
// parameter names equal the Python state-dict keys.
#pragma once
#include <torch/torch.h>

#include <array>

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

}  // namespace kds
