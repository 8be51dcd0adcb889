// An exponential moving average of the student's weights, the "EMA model" that SR trainers keep: after
// every applied step, average = d * average + (1 - d) * weights. Short runs would otherwise keep too much
// of the initial weights (0.999^1000 = 0.37), so d ramps up as min(decay, (1 + n) / (10 + n)) with n the
// number of updates so far (the usual EMA warm-up). Validation and the saved student use the average.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "io/state_dict.h"

namespace kds {

class WeightAverage {
 public:
  // decay in (0, 1) turns it on (and restarts the average); 0 turns it off.
  void configure(double decay);
  bool enabled() const { return decay_ > 0; }
  double decay() const { return decay_; }
  int64_t updates() const { return updates_; }

  // After an applied optimiser step. The first call copies the weights.
  void update(const std::vector<torch::Tensor>& params);
  // Exchanges the parameters' values with the average (no copies: the storages trade places); calling it
  // twice restores the model. A no-op before the first update.
  void swapInto(std::vector<torch::Tensor>& params);

  // For checkpoints: "{i}" per parameter, "updates" and "decay" (empty while there is no average).
  NamedTensors state() const;
  // A checkpoint's average, checked against the parameters without changing anything (empty state: none),
  // then adopted once the rest of the checkpoint has been applied, so a failed load changes nothing.
  struct Loaded {
    std::vector<torch::Tensor> average;
    int64_t updates = 0;
  };
  static Loaded check(const NamedTensors& state, const std::vector<torch::Tensor>& params, const std::string& path);
  void adopt(Loaded loaded);
  void moveTo(const torch::Device& device);

 private:
  double decay_ = 0;
  int64_t updates_ = 0;
  std::vector<torch::Tensor> average_;
};

}  // namespace kds
