// The SA loss without N x N matrices: tiles of the affinity difference are computed, reduced and
// dropped; the backward pass recomputes them. Same value and gradient as affinityLossPlain.
#pragma once
#include <torch/torch.h>

namespace kds {

// student: B x Cs x H x W (gradient flows to it), teacher: B x Ct x H x W (treated as a constant).
// tile: pixels per tile side; 0 chooses from the shapes and the device (chooseAffinityTile).
torch::Tensor affinityLossFused(const torch::Tensor& student, const torch::Tensor& teacher, double eps, int64_t tile);

int64_t chooseAffinityTile(int64_t batch, int64_t pixels, const torch::Device& device);

}  // namespace kds
