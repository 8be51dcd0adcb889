// CA: channel affinity. Each channel's N-vector divided by its L2 norm + eps; the C x C matrix of cosine
// similarities between channels; mean over B * C * C of the difference. Needs equal channel counts.
#include "losses/term_util.h"

namespace kds {

torch::Tensor channelAffinityTerm(const FeatureMaps& maps, const TermOptions& o) {
  const double eps = nonNegativeOption(o, "eps", "CA");
  auto affinity = [eps](const torch::Tensor& f) {
    auto flat = f.flatten(2);                                          // B x C x N
    auto unit = flat / (flat.norm(2, /*dim=*/2, /*keepdim=*/true) + eps);  // torch's norm: gradient 0 at 0
    return torch::bmm(unit, unit.transpose(1, 2));                     // B x C x C
  };
  return sumOverPositions(maps, [&](const torch::Tensor& s, const torch::Tensor& t) { return meanL1(affinity(s), affinity(t)); });
}

}  // namespace kds
