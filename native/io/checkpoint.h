// Training checkpoints: one file that `torch.load` reads (a dict), written atomically.
//   {"format": "kds-checkpoint-1", "student": {name: tensor}, "optimizer": {"{i}.exp_avg": ...},
//    "steps": int, "rng": uint8 tensor (LibTorch's CPU generator state), "extra": str (JSON from lib/)}
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>

#include "io/state_dict.h"

namespace kds {

struct Checkpoint {
  NamedTensors student;
  NamedTensors optimizer;
  int64_t steps = 0;
  torch::Tensor rng;
  std::string extra;
};

void writeCheckpoint(const std::string& path, const Checkpoint& checkpoint);
Checkpoint readCheckpoint(const std::string& path);

}  // namespace kds
