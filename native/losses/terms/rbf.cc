// RBF: a Gaussian kernel of the pooled pixel similarity, as a Taylor series. After pooling (as PSA), each
// pixel is L2-normalised (F.normalize), s[p, q] is the cosine similarity of pixels p and q, and
// K(s) = sum_{p=0..P} exp(-2 gamma) (2 gamma)^p / p! s^p; mean over B * N * N of |K(s_student) - K(s_teacher)|.
// 'fused' sweeps tiles of the pixel pairs (never N x N); 'plain' is the authors' formula.
#include <cmath>
#include <vector>

#include "losses/term_util.h"

namespace kds {
namespace {

std::vector<double> taylorCoefficients(int64_t order, double gamma) {
  std::vector<double> c;
  double term = std::exp(-2 * gamma);  // p = 0
  for (int64_t p = 0; p <= order; ++p) {
    if (p > 0) term *= 2 * gamma / static_cast<double>(p);
    c.push_back(term);
  }
  return c;
}

// sum_p c[p] s^p by Horner's rule (a new tensor).
torch::Tensor polynomial(const torch::Tensor& s, const std::vector<double>& c) {
  auto k = torch::full_like(s, c.back());
  for (size_t p = c.size() - 1; p-- > 0;) k.mul_(s).add_(c[p]);
  return k;
}

std::vector<double> derivative(const std::vector<double>& c) {
  std::vector<double> d;
  for (size_t p = 1; p < c.size(); ++p) d.push_back(static_cast<double>(p) * c[p]);
  if (d.empty()) d.push_back(0.0);
  return d;
}

torch::Tensor rbfPlain(const torch::Tensor& student, const torch::Tensor& teacher, const std::vector<double>& c) {
  auto kernel = [&](const torch::Tensor& f) {
    auto unit = unitPixels(f.flatten(2));
    return polynomial(torch::bmm(unit.transpose(1, 2), unit), c);
  };
  return meanL1(kernel(student), kernel(teacher));
}

// D = K(s_I^T s_J) - K(t_I^T t_J) tile by tile; dL/ds_p = 2 / (B N^2) sum_q sign(D[p, q]) K'(S[p, q]) s_q.
torch::Tensor rbfFused(const torch::Tensor& student, const torch::Tensor& teacher, const std::vector<double>& c, int64_t tile) {
  auto s = unitPixels(student.flatten(2));  // B x Cs x N, with autograd to the student
  const auto dc = derivative(c);
  const bool wantGrad = torch::GradMode::is_enabled() && s.requires_grad();
  const int64_t batch = s.size(0), n = s.size(2);
  torch::Tensor grad, total;
  {
    torch::NoGradGuard noGrad;
    const auto sd = s.detach();
    const auto t = unitPixels(teacher.detach().flatten(2).to(s.scalar_type()));
    if (wantGrad) grad = torch::zeros_like(sd);
    total = sweepPixelPairs(batch, n, sd.element_size(), sd.device(), tile, [&](PixelRange images, PixelRange I, PixelRange J, bool offDiagonal) {
      auto si = sd.narrow(0, images.begin, images.size), ti = t.narrow(0, images.begin, images.size);
      auto sI = si.narrow(2, I.begin, I.size), sJ = si.narrow(2, J.begin, J.size);
      auto tI = ti.narrow(2, I.begin, I.size), tJ = ti.narrow(2, J.begin, J.size);
      auto ss = torch::bmm(sI.transpose(1, 2), sJ);
      auto d = polynomial(ss, c).sub_(polynomial(torch::bmm(tI.transpose(1, 2), tJ), c));
      auto l1 = d.abs().sum();
      if (wantGrad) {
        auto g = d.sign_().mul_(polynomial(ss, dc));  // images x TI x TJ
        auto gi = grad.narrow(0, images.begin, images.size);
        gi.narrow(2, I.begin, I.size).baddbmm_(sJ, g.transpose(1, 2));
        if (offDiagonal) gi.narrow(2, J.begin, J.size).baddbmm_(sI, g);
      }
      return l1;
    });
  }
  const double scale = 1.0 / (static_cast<double>(batch) * static_cast<double>(n) * static_cast<double>(n));
  auto loss = total.mul(scale).to(s.scalar_type());
  return withGradient(s, loss, wantGrad ? grad.mul_(2 * scale) : torch::Tensor());
}

}  // namespace

torch::Tensor gaussianRbfTerm(const FeatureMaps& maps, const TermOptions& o) {
  const auto impl = implOption(o, "RBF");
  const auto pool = poolOption(o, "RBF");
  const int64_t k = poolSizeOption(o, "RBF", maps);
  const int64_t order = intOption(o, "P", "RBF", 0);
  const double gamma = nonNegativeOption(o, "gamma", "RBF");
  const int64_t tile = intOption(o, "tile", "RBF", 0);
  const auto c = taylorCoefficients(order, gamma);
  return sumOverPositions(maps, [&](const torch::Tensor& student, const torch::Tensor& teacher) {
    auto s = poolFeatures(student, pool, k);
    auto t = poolFeatures(teacher, pool, k);
    return impl == "plain" ? rbfPlain(s, t, c) : rbfFused(s, t, c, tile);
  });
}

}  // namespace kds
