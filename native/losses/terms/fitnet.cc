// fitnet: the raw feature maps; mean over B * C * H * W of |student - teacher|. Needs equal channel counts
// and sizes (no learned adapter: kds refuses other channel counts with E_SHAPE).
#include "losses/term_util.h"

namespace kds {

torch::Tensor fitnetTerm(const FeatureMaps& maps, const TermOptions&) {
  return sumOverPositions(maps, [](const torch::Tensor& s, const torch::Tensor& t) { return meanL1(s, t); });
}

}  // namespace kds
