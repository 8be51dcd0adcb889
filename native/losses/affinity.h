// FAKD's spatial-affinity (SA) loss between one student and one teacher feature map.
//   A(F)[p, q] = <f_p, f_q> / ((|f_p| + eps)(|f_q| + eps)),  F: B x C x H x W, p, q over the H*W pixels
//   loss       = mean over B*N*N of |A(F_s) - A(F_t)|
// A does not depend on C, so teacher and student may have different channel counts; H x W must agree.
#pragma once
#include <torch/torch.h>

#include <string>

namespace kds {

struct AffinityOptions {
  std::string impl = "fused";  // "fused": tiled, never holds N x N; "plain": the reference formula
  double eps = 1e-8;
  int64_t tile = 0;            // fused only; 0 chooses from the shapes
  std::string pool = "none";   // FAKD's PSA: "max" or "avg" pooling of both maps before the affinity
  int poolSize = 2;
};

// Feature maps divided per pixel by (L2 norm over channels + eps), flattened to B x C x N.
torch::Tensor normalizedPixels(const torch::Tensor& features, double eps);

// The reference formula: materialises both B x N x N affinity matrices.
torch::Tensor affinityLossPlain(const torch::Tensor& student, const torch::Tensor& teacher, double eps);

// Pools (if asked), checks shapes and dispatches to the chosen implementation. `teacher` needs no grad.
torch::Tensor affinityLoss(const torch::Tensor& student, const torch::Tensor& teacher, const AffinityOptions& options);

}  // namespace kds
