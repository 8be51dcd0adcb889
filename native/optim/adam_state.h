// Adam's per-parameter state (step, first and second moments) as named tensors, so that it can be stored
// in a checkpoint that PyTorch can read, and restored exactly.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "io/state_dict.h"

namespace kds {

// Keys "{i}.step", "{i}.exp_avg", "{i}.exp_avg_sq" for the i-th parameter that has state.
NamedTensors exportAdamState(torch::optim::Adam& adam, const std::vector<torch::Tensor>& params);

// Replaces the optimiser's state. Every shape is checked before anything changes (E_FILE on mismatch).
void importAdamState(torch::optim::Adam& adam, const std::vector<torch::Tensor>& params,
                     const std::map<std::string, torch::Tensor>& state, const std::string& path);

}  // namespace kds
