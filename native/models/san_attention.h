// SAN's attention modules (Dai et al. 2019), named like the SAN reference code so that parameter names
// equal its state-dict keys: second-order channel attention (SOCA) and the region-level non-local block.
#pragma once
#include <torch/torch.h>

namespace kds {

// The square root of each symmetric positive semi-definite matrix in a batch (B x C x C) by the coupled
// Newton-Schulz iteration of iSQRT-COV, exactly as SAN's MPNCOV layer: pre-normalise by the trace, run
// `iterations` (>= 2) steps, post-compensate by the square root of the trace.
torch::Tensor newtonSchulzSqrt(const torch::Tensor& cov, int iterations);

// Covariance pooling: the C x C covariance of each image's pixels (B x C x C), normalised by the pixel count.
torch::Tensor covariancePool(const torch::Tensor& x);

// Second-order channel attention: channel weights from the rows' mean of sqrt(covariance) of the feature
// map (its central 1000 x 1000 crop when larger), through conv_du.0 (C -> C/r), ReLU, conv_du.2, sigmoid.
class SecondOrderChannelAttentionImpl : public torch::nn::Module {
 public:
  SecondOrderChannelAttentionImpl(int64_t nFeats, int64_t reduction);
  torch::Tensor forward(const torch::Tensor& x);
  // Multiply-adds for an h x w map: covariance, 12 C x C products of the 5-step iteration, the 1x1 convs.
  int64_t multiplyAdds(int64_t h, int64_t w) const;

 private:
  torch::nn::Sequential convDu_{nullptr};
  int64_t nFeats_;
};
TORCH_MODULE(SecondOrderChannelAttention);

// Embedded-Gaussian non-local block without sub-sampling or batch norm: z = W(softmax(theta^T phi) g) + x,
// with 1x1 convs g, theta, phi (C -> inner) and W (inner -> C; zero at start, so the block starts as identity).
class NonLocalBlockImpl : public torch::nn::Module {
 public:
  NonLocalBlockImpl(int64_t nFeats, int64_t inner);
  torch::Tensor forward(const torch::Tensor& x);
  int64_t multiplyAdds(int64_t h, int64_t w) const;

 private:
  torch::nn::Conv2d g_{nullptr}, theta_{nullptr}, phi_{nullptr}, w_{nullptr};
  int64_t inner_;
};
TORCH_MODULE(NonLocalBlock);

// SAN's Nonlocal_CA: the non-local block applied to each quadrant of the map on its own (split at
// floor(H/2), floor(W/2)). Its `soca` is built (and stored in checkpoints) but, as in the reference, unused.
class RegionNonLocalImpl : public torch::nn::Module {
 public:
  RegionNonLocalImpl(int64_t nFeats, int64_t inner, int64_t socaReduction);
  torch::Tensor forward(const torch::Tensor& x);
  int64_t multiplyAdds(int64_t h, int64_t w) const;

 private:
  SecondOrderChannelAttention soca_{nullptr};
  NonLocalBlock nonLocal_{nullptr};
};
TORCH_MODULE(RegionNonLocal);

}  // namespace kds
