#include "losses/affinity_fused.h"

#include <algorithm>
#include <cmath>

#include "losses/affinity.h"

namespace kds {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using torch::indexing::Slice;

// With X = [s; t] and Y = [s; -t] stacked along channels (s, t: normalised pixels, B x C x N), one GEMM
// gives the affinity difference of a tile: D[I, J] = X_I^T Y_J = A_s[I, J] - A_t[I, J].
// D is symmetric, so only tiles with J >= I are visited; off-diagonal tiles count twice.
struct AffinityL1 : public torch::autograd::Function<AffinityL1> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& s, const torch::Tensor& t, int64_t tile) {
    const int64_t batch = s.size(0), n = s.size(2);
    auto x = torch::cat({s, t}, 1).transpose(1, 2).contiguous();  // B x N x (Cs+Ct)
    auto y = torch::cat({s, -t}, 1).contiguous();                  // B x (Cs+Ct) x N
    auto total = torch::zeros({}, s.options().dtype(torch::kDouble));
    for (int64_t i0 = 0; i0 < n; i0 += tile) {
      const int64_t i1 = std::min(n, i0 + tile);
      auto xi = x.index({Slice(), Slice(i0, i1)});
      for (int64_t j0 = i0; j0 < n; j0 += tile) {
        const int64_t j1 = std::min(n, j0 + tile);
        auto d = torch::bmm(xi, y.index({Slice(), Slice(), Slice(j0, j1)}));
        auto sum = d.abs_().sum(at::kDouble);
        total += (i0 == j0) ? sum : 2 * sum;
      }
    }
    ctx->save_for_backward({x, y});
    ctx->saved_data["tile"] = tile;
    ctx->saved_data["channels"] = s.size(1);
    return (total / static_cast<double>(batch * n * n)).to(s.scalar_type());
  }

  // L = sum |D| / (B N^2); dL/ds = 2 s S / (B N^2) with S = sign(D) (symmetric), tile by tile.
  static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
    auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& y = saved[1];
    const int64_t tile = ctx->saved_data["tile"].toInt();
    const int64_t cs = ctx->saved_data["channels"].toInt();
    const int64_t batch = x.size(0), n = x.size(1);
    auto s = y.index({Slice(), Slice(0, cs)});  // B x Cs x N (the student rows of Y are s itself)
    auto grad = torch::zeros_like(s);
    const auto scale = gradOutputs[0].to(x.scalar_type()) * (2.0 / static_cast<double>(batch * n * n));
    for (int64_t i0 = 0; i0 < n; i0 += tile) {
      const int64_t i1 = std::min(n, i0 + tile);
      auto xi = x.index({Slice(), Slice(i0, i1)});
      auto si = s.index({Slice(), Slice(), Slice(i0, i1)});
      auto gi = grad.index({Slice(), Slice(), Slice(i0, i1)});
      for (int64_t j0 = i0; j0 < n; j0 += tile) {
        const int64_t j1 = std::min(n, j0 + tile);
        auto sign = torch::bmm(xi, y.index({Slice(), Slice(), Slice(j0, j1)})).sign_();  // B x TI x TJ
        auto sj = s.index({Slice(), Slice(), Slice(j0, j1)});
        gi.baddbmm_(sj, sign.transpose(1, 2));  // grad[:, :, I] += s_J S_IJ^T
        if (j0 != i0) grad.index({Slice(), Slice(), Slice(j0, j1)}).baddbmm_(si, sign);  // grad[:, :, J] += s_I S_IJ
      }
    }
    grad.mul_(scale);
    return {grad, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

int64_t chooseAffinityTile(int64_t batch, int64_t pixels, const torch::Device& device) {
  // Keep one B x T x T tile small enough to stay in cache on a CPU; GPUs want big GEMMs.
  const double budgetBytes = device.is_cuda() ? 256.0 * (1 << 20) : 4.0 * (1 << 20);
  int64_t t = static_cast<int64_t>(std::sqrt(budgetBytes / (4.0 * std::max<int64_t>(batch, 1))));
  t = std::max<int64_t>(64, t / 64 * 64);
  return std::min(t, pixels);
}

torch::Tensor affinityLossFused(const torch::Tensor& student, const torch::Tensor& teacher, double eps, int64_t tile) {
  auto s = normalizedPixels(student, eps);
  auto t = normalizedPixels(teacher.detach(), eps).to(s.scalar_type());
  const int64_t n = s.size(2);
  if (tile <= 0) tile = chooseAffinityTile(s.size(0), n, s.device());
  return AffinityL1::apply(s, t, std::min(tile, std::max<int64_t>(n, 1)));
}

}  // namespace kds
