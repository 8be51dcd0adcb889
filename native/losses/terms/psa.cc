// PSA: SA of the pooled maps (max or average pooling, window = stride = poolSize, ceil rounding as the
// FAKD authors' nn.MaxPool2d / nn.AvgPool2d(ceil_mode=True)).
#include "losses/affinity.h"
#include "losses/affinity_fused.h"
#include "losses/term_util.h"

namespace kds {

torch::Tensor pooledSpatialAffinityTerm(const FeatureMaps& maps, const TermOptions& o) {
  const auto impl = implOption(o, "PSA");
  const auto pool = poolOption(o, "PSA");
  const int64_t k = poolSizeOption(o, "PSA", maps);
  const double eps = nonNegativeOption(o, "eps", "PSA");
  const int64_t tile = intOption(o, "tile", "PSA", 0);
  return sumOverPositions(maps, [&](const torch::Tensor& student, const torch::Tensor& teacher) {
    auto s = poolFeatures(student, pool, k);
    auto t = poolFeatures(teacher, pool, k);
    return impl == "plain" ? affinityLossPlain(s, t, eps) : affinityLossFused(s, t, eps, tile);
  });
}

}  // namespace kds
