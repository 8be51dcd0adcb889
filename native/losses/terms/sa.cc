// SA: the spatial affinity of FAKD. Per position, mean over B * N * N of |A(student) - A(teacher)|, where
// A[p, q] = <f_p, f_q> / ((|f_p| + eps)(|f_q| + eps)) is the cosine similarity of pixels p and q.
#include "losses/affinity.h"
#include "losses/affinity_fused.h"
#include "losses/term_util.h"

namespace kds {

torch::Tensor spatialAffinityTerm(const FeatureMaps& maps, const TermOptions& o) {
  const auto impl = implOption(o, "SA");
  const double eps = nonNegativeOption(o, "eps", "SA");
  const int64_t tile = intOption(o, "tile", "SA", 0);
  return sumOverPositions(maps, [&](const torch::Tensor& s, const torch::Tensor& t) {
    return impl == "plain" ? affinityLossPlain(s, t, eps) : affinityLossFused(s, t, eps, tile);
  });
}

}  // namespace kds
