// A feature-distillation term: transforms each selected student and teacher feature map and takes the mean
// L1 distance of the two transforms, summed over the positions (FAKD's FeatureLoss). Each term is one file
// in native/losses/terms/ and one row in native/losses/feature_registry.cc.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "api/feature_terms.h"

namespace kds {

// The selected maps, position by position: students[i] and teachers[i] come from feature position
// positions[i] (used in messages). Students may need gradients; teachers are constants.
struct FeatureMaps {
  std::vector<torch::Tensor> students, teachers;
  std::vector<int> positions;
};

// Returns the term's (unweighted) loss, a 0-dim tensor with autograd to the students.
using TermForward = torch::Tensor (*)(const FeatureMaps& maps, const TermOptions& options);

struct FeatureTerm {
  FeatureTermInfo info;
  TermForward forward;
};

// The registry row of `name` (E_ARG naming the known terms otherwise).
const FeatureTerm& findFeatureTerm(const std::string& name);

// Checks what the row declares (4-D, non-empty, equal batch, channels and size where needed, enough
// positions; E_SHAPE naming the positions) and runs the term.
torch::Tensor featureTermLoss(const FeatureTerm& term, const FeatureMaps& maps, const TermOptions& options);

}  // namespace kds
