// The FAKD objective: DS (student vs ground truth), TS (student vs teacher output) and SA (spatial
// affinity of feature maps), combined with explicit weights.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "api/session.h"
#include "models/torch_model.h"

namespace kds {

struct LossParts {
  torch::Tensor total, DS, TS, SA;  // 0-dim tensors; SA is zero when it is off
};

// Checks that the outputs and chosen feature pairs fit together (E_SHAPE naming the mismatch), then
// builds the weighted total. `teacher` may be null when TS and SA are off.
LossParts distillationLoss(const SrOutput& student, const SrOutput* teacher, const torch::Tensor& hr,
                           const LossOptions& options);

// The feature positions the SA loss will use, validated against the counts the models returned.
std::vector<int> saPositions(const LossOptions& options, size_t studentCount, size_t teacherCount);

}  // namespace kds
