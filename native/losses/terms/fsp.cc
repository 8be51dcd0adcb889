// FSP: the flow matrix between consecutive positions i, i+1: F_i F_{i+1}^T / (H W), C_i x C_{i+1} per
// sample; mean over its entries of the difference, summed over the n - 1 consecutive pairs. Maps of
// different sizes: when map i is taller, it is average-pooled (adaptively) to map i+1's size, as the
// authors do; otherwise map i+1 is pooled to map i's size (where the authors' code fails).
#include "losses/term_util.h"

namespace kds {
namespace {

torch::Tensor flow(torch::Tensor a, torch::Tensor b) {
  if (a.size(2) != b.size(2) || a.size(3) != b.size(3)) {
    if (a.size(2) > b.size(2))
      a = torch::adaptive_avg_pool2d(a, {b.size(2), b.size(3)});
    else
      b = torch::adaptive_avg_pool2d(b, {a.size(2), a.size(3)});
  }
  auto fa = a.flatten(2), fb = b.flatten(2);
  return torch::bmm(fa, fb.transpose(1, 2)) / static_cast<double>(fa.size(2));
}

}  // namespace

torch::Tensor flowTerm(const FeatureMaps& maps, const TermOptions&) {
  torch::Tensor sum;
  for (size_t i = 0; i + 1 < maps.students.size(); ++i) {
    auto part = meanL1(flow(maps.students[i], maps.students[i + 1]), flow(maps.teachers[i], maps.teachers[i + 1]));
    sum = sum.defined() ? sum + part : part;
  }
  return sum;
}

}  // namespace kds
