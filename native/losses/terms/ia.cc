// IA: instance affinity. Each sample flattened to one vector; the B x B Gram matrix Q; each row of Q
// divided by its L2 norm; mean over B * B of the difference. Channels and sizes may differ.
#include "losses/term_util.h"

namespace kds {

torch::Tensor instanceAffinityTerm(const FeatureMaps& maps, const TermOptions&) {
  auto affinity = [](const torch::Tensor& f) {
    auto flat = f.flatten(1);                 // B x (C H W)
    auto q = torch::mm(flat, flat.t());       // B x B
    // The authors divide by the norm alone (NaN for an all-zero sample); the clamp changes nothing else.
    return q / q.norm(2, /*dim=*/1, /*keepdim=*/true).clamp_min(1e-12);
  };
  return sumOverPositions(maps, [&](const torch::Tensor& s, const torch::Tensor& t) { return meanL1(affinity(s), affinity(t)); });
}

}  // namespace kds
