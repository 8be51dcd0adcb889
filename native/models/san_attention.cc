#include "models/san_attention.h"

#include <algorithm>

#include "models/blocks.h"

namespace kds {
namespace {

constexpr int kSqrtIterations = 5;      // SAN's SOCA
constexpr int64_t kMaxCovarianceSide = 1000;  // SAN's SOCA crops larger maps to their centre

torch::nn::Conv2dOptions pointwise(int64_t in, int64_t out) { return torch::nn::Conv2dOptions(in, out, 1).bias(true); }

// The central kMaxCovarianceSide rows/columns of a larger map, like the SAN reference. (At a side of exactly
// 1000 the reference's branches compute a misplaced window; here a side of 1000 is simply kept whole.)
torch::Tensor centralCrop(const torch::Tensor& x) {
  auto out = x;
  const int64_t h = x.size(2), w = x.size(3);
  if (h > kMaxCovarianceSide) out = out.narrow(2, (h - kMaxCovarianceSide) / 2, kMaxCovarianceSide);
  if (w > kMaxCovarianceSide) out = out.narrow(3, (w - kMaxCovarianceSide) / 2, kMaxCovarianceSide);
  return out;
}

}  // namespace

torch::Tensor covariancePool(const torch::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1), m = x.size(2) * x.size(3);
  auto flat = x.reshape({b, c, m});
  auto centred = flat - flat.mean(2, /*keepdim=*/true);
  return centred.bmm(centred.transpose(1, 2)) / static_cast<double>(m);
}

torch::Tensor newtonSchulzSqrt(const torch::Tensor& cov, int iterations) {
  const int64_t b = cov.size(0), c = cov.size(1);
  auto i3 = 3.0 * torch::eye(c, cov.options()).expand({b, c, c});
  auto trace = cov.diagonal(0, 1, 2).sum(-1).view({b, 1, 1});
  auto a = cov / trace;
  auto zy = 0.5 * (i3 - a);
  auto y = a.bmm(zy);
  auto z = zy;
  for (int i = 1; i < std::max(iterations, 2) - 1; ++i) {
    zy = 0.5 * (i3 - z.bmm(y));
    auto nextY = y.bmm(zy);
    z = zy.bmm(z);
    y = nextY;
  }
  zy = 0.5 * y.bmm(i3 - z.bmm(y));
  return zy * trace.sqrt();
}

SecondOrderChannelAttentionImpl::SecondOrderChannelAttentionImpl(int64_t nFeats, int64_t reduction) : nFeats_(nFeats) {
  const int64_t inner = nFeats / reduction;
  convDu_ = register_module("conv_du", torch::nn::Sequential(torch::nn::Conv2d(pointwise(nFeats, inner)), torch::nn::ReLU(),
                                                            torch::nn::Conv2d(pointwise(inner, nFeats)), torch::nn::Sigmoid()));
}

torch::Tensor SecondOrderChannelAttentionImpl::forward(const torch::Tensor& x) {
  auto root = newtonSchulzSqrt(covariancePool(centralCrop(x)), kSqrtIterations);
  auto pooled = root.mean(1).view({x.size(0), x.size(1), 1, 1});
  return convDu_->forward(pooled) * x;
}

int64_t SecondOrderChannelAttentionImpl::multiplyAdds(int64_t h, int64_t w) const {
  const int64_t c = nFeats_;
  const int64_t m = std::min(h, kMaxCovarianceSide) * std::min(w, kMaxCovarianceSide);
  const int64_t products = 3 * (kSqrtIterations - 2) + 3;  // Y0; 3 per middle step; 2 at the end
  return c * c * m + products * c * c * c + convWeights(*convDu_);
}

NonLocalBlockImpl::NonLocalBlockImpl(int64_t nFeats, int64_t inner) : inner_(inner) {
  g_ = register_module("g", torch::nn::Conv2d(pointwise(nFeats, inner)));
  w_ = register_module("W", torch::nn::Conv2d(pointwise(inner, nFeats)));
  theta_ = register_module("theta", torch::nn::Conv2d(pointwise(nFeats, inner)));
  phi_ = register_module("phi", torch::nn::Conv2d(pointwise(nFeats, inner)));
  torch::NoGradGuard noGrad;
  w_->weight.zero_();
  w_->bias.zero_();
}

torch::Tensor NonLocalBlockImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  auto g = g_->forward(x).view({b, inner_, h * w}).transpose(1, 2);          // B x N x inner
  auto theta = theta_->forward(x).view({b, inner_, h * w}).transpose(1, 2);  // B x N x inner
  auto phi = phi_->forward(x).view({b, inner_, h * w});                      // B x inner x N
  auto attention = torch::softmax(theta.bmm(phi), -1);                       // B x N x N
  auto y = attention.bmm(g).transpose(1, 2).reshape({b, inner_, h, w});
  return w_->forward(y) + x;
}

int64_t NonLocalBlockImpl::multiplyAdds(int64_t h, int64_t w) const {
  const int64_t n = h * w;
  return (convWeights(*g_) + convWeights(*theta_) + convWeights(*phi_) + convWeights(*w_)) * n + 2 * n * n * inner_;
}

RegionNonLocalImpl::RegionNonLocalImpl(int64_t nFeats, int64_t inner, int64_t socaReduction) {
  soca_ = register_module("soca", SecondOrderChannelAttention(nFeats, socaReduction));
  nonLocal_ = register_module("non_local", NonLocalBlock(nFeats, inner));
}

torch::Tensor RegionNonLocalImpl::forward(const torch::Tensor& x) {
  const int64_t h = x.size(2), w = x.size(3), h1 = h / 2, w1 = w / 2;
  auto apply = [&](int64_t top, int64_t rows, int64_t left, int64_t cols) {
    auto region = x.narrow(2, top, rows).narrow(3, left, cols);
    return region.numel() == 0 ? region : nonLocal_->forward(region);  // a 1-pixel side leaves an empty quadrant
  };
  auto upper = torch::cat({apply(0, h1, 0, w1), apply(0, h1, w1, w - w1)}, 3);
  auto lower = torch::cat({apply(h1, h - h1, 0, w1), apply(h1, h - h1, w1, w - w1)}, 3);
  return torch::cat({upper, lower}, 2);
}

int64_t RegionNonLocalImpl::multiplyAdds(int64_t h, int64_t w) const {
  const int64_t h1 = h / 2, w1 = w / 2;
  return nonLocal_->multiplyAdds(h1, w1) + nonLocal_->multiplyAdds(h1, w - w1) + nonLocal_->multiplyAdds(h - h1, w1) +
         nonLocal_->multiplyAdds(h - h1, w - w1);
}

}  // namespace kds
