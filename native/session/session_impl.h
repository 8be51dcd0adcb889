// The state behind kds::Session and the pieces of one training step. The session sits above the ground
// (core/: tensors, runtime, precision) and drives what lives beside it: models, losses, optim, io, dist.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "api/session.h"
#include "core/precision.h"
#include "dist/process_group.h"
#include "losses/distill_loss.h"
#include "models/torch_model.h"
#include "optim/weight_average.h"

namespace kds {

struct Session::Impl {
  torch::Device device{torch::kCPU};
  ModelPtr teacher, student;
  LossOptions loss;
  AdamOptions adam;
  std::unique_ptr<torch::optim::Adam> optimizer;  // built for the current student on first use
  int64_t steps = 0;                              // steps applied with the current optimizer
  PrecisionOptions precision;
  std::optional<at::ScalarType> autocast;  // the forward passes' autocast dtype; none for fp32
  std::string teacherPrecision = "step";   // setTeacherPrecision's value
  std::optional<at::ScalarType> teacherAutocast;  // the teacher forward's dtype (autocast's for "step")
  GradScaler scaler;                       // enabled for fp16 only
  bool channelsLast = false;
  std::shared_ptr<dist::ProcessGroup> group;  // data-parallel training, from setDistributed()
  bool syncFromRoot = false;                  // broadcast rank 0's student before the next step
  bool gradientsReduced = false;              // this step's all-reduce took place (distributed)
  WeightAverage average;                      // the student's EMA, when setEma turned it on

  torch::optim::AdamOptions torchAdamOptions() const;
  torch::optim::Adam& ensureOptimizer();
  // Before the first step after setDistributed, setStudent or loadCheckpoint: every rank starts from
  // rank 0's weights and Adam state.
  void syncStudentFromRoot();

  // One step (train_step.cc), in the order it runs.
  StepLosses step(const Tensor& lr, const Tensor& hr);
  bool needsTeacher() const;
  std::pair<torch::Tensor, torch::Tensor> checkedBatch(const Tensor& lr, const Tensor& hr) const;
  torch::Tensor checkedImage(const Tensor& tensor, const char* name) const;
  torch::Tensor toDevice(const torch::Tensor& batch) const;
  SrOutput teacherForward(TorchModel& teacher, const torch::Tensor& lr) const;
  SrOutput studentForward(TorchModel& student, torch::optim::Adam& optimizer, const torch::Tensor& lr) const;
  StepLosses lossValues(const LossParts& parts) const;
  std::vector<torch::Tensor> backward(TorchModel& student, const LossParts& parts, const StepLosses& losses);
  bool applyGradients(torch::optim::Adam& optimizer, std::vector<torch::Tensor>& grads, StepLosses& losses);
  void clipGradients(std::vector<torch::Tensor>& grads, const torch::Tensor& norm) const;

  // Data parallel (train_step.cc).
  void averageGradients(TorchModel& student, std::vector<torch::Tensor>& grads, bool lossFinite, const StepLosses& local);
  void joinFailedStep();
};

}  // namespace kds
