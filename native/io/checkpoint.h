// Training checkpoints: one file that `torch.load` reads (a dict), written atomically.
//   {"format": "kds-checkpoint-1", "student": {name: tensor}, "optimizer": {"{i}.exp_avg": ...},
//    "steps": int, "rng": uint8 tensor (LibTorch's CPU generator state), "extra": str (JSON from lib/),
//    "grad_scaler": {"scale", "growth_tracker"} (only when training in fp16; optional when reading),
//    "ema": {"0": tensor, ..., "updates", "decay"} (only with a weight average; optional when reading)}
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
  NamedTensors gradScaler;  // empty unless fp16
  NamedTensors ema;         // the student's weight average; empty without one
};

void writeCheckpoint(const std::string& path, const Checkpoint& checkpoint);
Checkpoint readCheckpoint(const std::string& path);

}  // namespace kds
