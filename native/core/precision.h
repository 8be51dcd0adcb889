// Mixed precision for the training step: the autocast scope of the forward passes and fp16's dynamic
// loss scaling (the rule of torch.amp.GradScaler).
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/session.h"

namespace kds {

// The autocast dtype of a precision: none for "fp32", bfloat16 or half otherwise. Throws E_ARG when
// unknown and E_DEVICE when the device type cannot autocast to it.
std::optional<at::ScalarType> autocastDtype(const std::string& precision, c10::DeviceType device);

// The teacher's autocast dtype: the step's (`stepDtype`) for "step", else autocastDtype's. An explicit
// "bf16" or "fp16" teacher is there for speed, and emulated reduced precision is slower than float32, so
// it also needs the device to do that arithmetic in hardware: E_DEVICE names the missing feature.
std::optional<at::ScalarType> teacherAutocastDtype(const std::string& precision, std::optional<at::ScalarType> stepDtype,
                                                   const torch::Device& device);

// The explicit teacher precisions `device` runs: "fp32", and "bf16" / "fp16" where teacherAutocastDtype
// accepts them (autocast exists and the device does that arithmetic in hardware).
std::vector<std::string> teacherPrecisionsOn(const torch::Device& device);

// Autocast for one device type while alive (nothing when dtype is empty); restores the previous state and
// clears autocast's cache of casted weights on exit, so the next step never sees stale weight copies.
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device, std::optional<at::ScalarType> dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_;
  bool active_ = false;
  bool wasEnabled_ = false;
  at::ScalarType previousDtype_ = at::kFloat;
};

// fp16 training: the loss is multiplied by `scale` before backward so that small gradients survive in
// half precision; the gradients are divided by it before the optimiser step. A step whose gradients hold
// inf or NaN is skipped and the scale multiplied by backoffFactor; after growthInterval good steps in a
// row it is multiplied by growthFactor. Its state lives on the training device (no host sync but one
// read of the overflow flag per step).
class GradScaler {
 public:
  void reset(const PrecisionOptions& options, const torch::Device& device);
  void moveTo(const torch::Device& device);
  bool enabled() const { return scale_.defined(); }
  void disable() { scale_ = growthTracker_ = foundInf_ = torch::Tensor(); }
  torch::Tensor scaleLoss(const torch::Tensor& loss) const { return loss * scale_.squeeze(); }
  // Divides the gradients by the scale in place; true when any of them is not finite.
  bool unscale(const std::vector<torch::Tensor>& grads);
  // After unscale(): backs off (overflow) or counts a good step and grows the scale when due.
  void update();
  double scale() const;
  // {"scale": float32 [1], "growth_tracker": int32 [1]} on the CPU, for checkpoints.
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  // Throws E_FILE unless `state` is empty or what state() writes; loadState then cannot fail.
  static void checkState(const std::vector<std::pair<std::string, torch::Tensor>>& state, const std::string& path);
  // Restores state() when fp16 is on and the state is not empty (checked with checkState first).
  void loadState(const std::vector<std::pair<std::string, torch::Tensor>>& state);

 private:
  PrecisionOptions options_;
  torch::Tensor scale_, growthTracker_, foundInf_;
};

}  // namespace kds
