// MMD: after pooling (as PSA), the mean over channels m (one value per pixel); the matrix |m_p - m_q| over
// pixel pairs; mean over B * N * N of the difference between student and teacher. 'fused' sweeps tiles of
// the pixel pairs (never N x N); 'plain' is the authors' formula.
#include "losses/term_util.h"

namespace kds {
namespace {

torch::Tensor mmdPlain(const torch::Tensor& student, const torch::Tensor& teacher) {
  auto distances = [](const torch::Tensor& f) {
    auto m = f.flatten(2).mean(1);                   // B x N
    return (m.unsqueeze(2) - m.unsqueeze(1)).abs();  // B x N x N
  };
  return meanL1(distances(student), distances(teacher));
}

// D = |m_I - m_J| - |u_I - u_J| (u: the teacher's means) tile by tile;
// dL/dm_p = 2 / (B N^2) sum_q sign(D[p, q]) sign(m_p - m_q).
torch::Tensor mmdFused(const torch::Tensor& student, const torch::Tensor& teacher, int64_t tile) {
  auto m = student.flatten(2).mean(1);  // B x N, with autograd to the student
  const bool wantGrad = torch::GradMode::is_enabled() && m.requires_grad();
  const int64_t batch = m.size(0), n = m.size(1);
  torch::Tensor grad, total;
  {
    torch::NoGradGuard noGrad;
    const auto md = m.detach();
    const auto u = teacher.detach().flatten(2).mean(1).to(m.scalar_type());
    if (wantGrad) grad = torch::zeros_like(md);
    total = sweepPixelPairs(batch, n, md.element_size(), md.device(), tile, [&](PixelRange images, PixelRange I, PixelRange J, bool offDiagonal) {
      auto mi = md.narrow(0, images.begin, images.size), ui = u.narrow(0, images.begin, images.size);
      auto a = mi.narrow(1, I.begin, I.size).unsqueeze(2) - mi.narrow(1, J.begin, J.size).unsqueeze(1);  // images x TI x TJ
      auto b = ui.narrow(1, I.begin, I.size).unsqueeze(2) - ui.narrow(1, J.begin, J.size).unsqueeze(1);
      auto d = a.abs().sub_(b.abs_());
      auto l1 = d.abs().sum();
      if (wantGrad) {
        auto g = d.sign_().mul_(a.sign_());
        auto gi = grad.narrow(0, images.begin, images.size);
        gi.narrow(1, I.begin, I.size).add_(g.sum(2));
        if (offDiagonal) gi.narrow(1, J.begin, J.size).sub_(g.sum(1));
      }
      return l1;
    });
  }
  const double scale = 1.0 / (static_cast<double>(batch) * static_cast<double>(n) * static_cast<double>(n));
  auto loss = total.mul(scale).to(m.scalar_type());
  return withGradient(m, loss, wantGrad ? grad.mul_(2 * scale) : torch::Tensor());
}

}  // namespace

torch::Tensor meanDiscrepancyTerm(const FeatureMaps& maps, const TermOptions& o) {
  const auto impl = implOption(o, "MMD");
  const auto pool = poolOption(o, "MMD");
  const int64_t k = poolSizeOption(o, "MMD", maps);
  const int64_t tile = intOption(o, "tile", "MMD", 0);
  return sumOverPositions(maps, [&](const torch::Tensor& student, const torch::Tensor& teacher) {
    auto s = poolFeatures(student, pool, k);
    auto t = poolFeatures(teacher, pool, k);
    return impl == "plain" ? mmdPlain(s, t) : mmdFused(s, t, tile);
  });
}

}  // namespace kds
