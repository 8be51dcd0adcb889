// AT: attention transfer. The sum over channels of the squared activations (B x 1 x H x W), divided by its
// L2 norm over the pixels + 1e-6; mean over B * H * W of the difference. Channels may differ.
#include "losses/term_util.h"

namespace kds {

torch::Tensor attentionTerm(const FeatureMaps& maps, const TermOptions&) {
  auto attention = [](const torch::Tensor& f) {
    auto am = f.square().sum(1, /*keepdim=*/true);
    return am / (am.norm(2, {2, 3}, /*keepdim=*/true) + 1e-6);
  };
  return sumOverPositions(maps, [&](const torch::Tensor& s, const torch::Tensor& t) { return meanL1(attention(s), attention(t)); });
}

}  // namespace kds
