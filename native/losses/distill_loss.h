// The distillation objective: DS (student vs ground truth), TS (student vs teacher output) and the feature
// terms of setLoss (native/losses/feature_registry.cc), combined with explicit weights.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "api/session.h"
#include "models/torch_model.h"

namespace kds {

struct LossParts {
  torch::Tensor total, DS, TS;  // 0-dim tensors
  std::vector<std::pair<std::string, torch::Tensor>> features;  // each term's unweighted value, in setLoss's order
};

// Whether the loss reads the teacher (TS or a feature term with a weight).
bool lossNeedsTeacher(const LossOptions& options);

// Checks that the outputs and chosen feature pairs fit together (E_SHAPE naming the mismatch), then
// builds the weighted total. `teacher` may be null when the loss does not need it.
LossParts distillationLoss(const SrOutput& student, const SrOutput* teacher, const torch::Tensor& hr,
                           const LossOptions& options);

// The feature positions a term will use, validated against the counts the models returned.
std::vector<int> featurePositions(const FeatureTermSpec& term, size_t studentCount, size_t teacherCount);

}  // namespace kds
