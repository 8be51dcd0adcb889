// One training step: inputs checked and moved to the device, teacher and student forward, the losses,
// backward (and, data parallel, the gradients' all-reduce), then the Adam update or a skipped step.
#include <chrono>
#include <cmath>
#include <mutex>

#include "api/error.h"
#include "core/runtime.h"
#include "core/torch_tensor.h"
#include "session/session_impl.h"

namespace kds {
namespace {

// "DS 0.1, TS 0.2, SA 0.3, AT 0.004": the unweighted parts, for messages.
std::string describeParts(const StepLosses& r) {
  std::string out = "DS " + std::to_string(r.DS) + ", TS " + std::to_string(r.TS);
  for (const auto& [name, value] : r.parts) out += ", " + name + " " + std::to_string(value);
  return out;
}

// Times consecutive phases: each lap() returns the milliseconds since the previous lap (or the start).
class PhaseClock {
 public:
  double lap() {
    auto now = Clock::now();
    double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    return ms;
  }
  double sinceStart() const { return std::chrono::duration<double, std::milli>(Clock::now() - start_).count(); }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_ = Clock::now(), last_ = start_;
};

// Reduced-precision outputs of an autocast forward as float32, for the loss (float32 math throughout).
SrOutput asFloat32(SrOutput out) {
  for (auto& f : out.features)
    if (f.is_floating_point() && f.scalar_type() != torch::kFloat) f = f.to(torch::kFloat);
  if (out.output.scalar_type() != torch::kFloat) out.output = out.output.to(torch::kFloat);
  return out;
}

// The student's lock and, when a teacher takes part, the teacher's, taken together (std::lock) so that
// a forward() on either model from another thread cannot deadlock with the step.
class ModelLocks {
 public:
  ModelLocks(TorchModel& student, TorchModel* teacher) : student_(student.mutex(), std::defer_lock) {
    if (!teacher) {
      student_.lock();
      return;
    }
    teacher_ = std::unique_lock<std::mutex>(teacher->mutex(), std::defer_lock);
    std::lock(student_, teacher_);
  }

 private:
  std::unique_lock<std::mutex> student_, teacher_;
};

}  // namespace

StepLosses Session::train(const Tensor& lrTensor, const Tensor& hrTensor) {
  if (!impl_->group) return impl_->step(lrTensor, hrTensor);
  impl_->syncStudentFromRoot();  // identical outcome on every rank
  impl_->gradientsReduced = false;
  try {
    return impl_->step(lrTensor, hrTensor);
  } catch (...) {
    // This rank failed before the gradient all-reduce (bad input, a failed forward): it still takes part
    // in the step's collectives, so the other ranks skip the step with it instead of pairing their
    // all-reduce with this rank's next step, then rethrows its own error.
    if (!impl_->gradientsReduced) impl_->joinFailedStep();
    throw;
  }
}

StepLosses Session::Impl::step(const Tensor& lrTensor, const Tensor& hrTensor) {
  PhaseClock clock;
  StepTimings timings;
  applyThreadSettings();
  if (!student) throw Error(ErrorCode::State, "train() before setStudent(): set a student model first");
  if (needsTeacher() && !teacher)
    throw Error(ErrorCode::State, "train() before setTeacher(): set a teacher, or turn TS and the feature terms off with setLoss({ weights: { TS: 0 }, features: [] })");
  auto [lr, hr] = checkedBatch(lrTensor, hrTensor);
  auto& s = asTorchModel(*student);
  TorchModel* t = needsTeacher() ? &asTorchModel(*teacher) : nullptr;
  ModelLocks locks(s, t);
  auto& adam = ensureOptimizer();
  lr = toDevice(lr);
  hr = toDevice(hr);
  timings.prepare = clock.lap();

  SrOutput teacherOut = t ? teacherForward(*t, lr) : SrOutput{};
  timings.teacherForward = clock.lap();
  SrOutput studentOut = studentForward(s, adam, lr);
  timings.studentForward = clock.lap();
  LossParts parts = distillationLoss(studentOut, t ? &teacherOut : nullptr, hr, loss);
  StepLosses result = lossValues(parts);
  timings.loss = clock.lap();
  auto grads = backward(s, parts, result);
  timings.backward = clock.lap();
  result.skipped = !applyGradients(adam, grads, result);
  timings.optimizer = clock.lap();
  timings.total = clock.sinceStart();
  result.timings = timings;
  return result;
}

bool Session::Impl::needsTeacher() const { return lossNeedsTeacher(loss); }

std::pair<torch::Tensor, torch::Tensor> Session::Impl::checkedBatch(const Tensor& lrTensor, const Tensor& hrTensor) const {
  auto lr = checkedImage(lrTensor, "lr");
  auto hr = checkedImage(hrTensor, "hr");
  if (lr.size(0) != hr.size(0))
    throw Error(ErrorCode::Shape, "lr and hr batch sizes differ: " + shapeToString(lr.sizes().vec()) + " vs " + shapeToString(hr.sizes().vec()));
  if (auto scale = student->scale()) {
    if (hr.size(2) != *scale * lr.size(2) || hr.size(3) != *scale * lr.size(3))
      throw Error(ErrorCode::Shape, "hr must be x" + std::to_string(*scale) + " the size of lr: lr " + shapeToString(lr.sizes().vec()) +
                                        " needs hr [" + std::to_string(lr.size(0)) + ", 3, " + std::to_string(*scale * lr.size(2)) + ", " +
                                        std::to_string(*scale * lr.size(3)) + "], got " + shapeToString(hr.sizes().vec()));
  }
  return {lr, hr};
}

torch::Tensor Session::Impl::checkedImage(const Tensor& tensor, const char* name) const {
  const auto& t = unwrap(tensor);
  if (t.dim() != 4 || t.size(1) != 3)
    throw Error(ErrorCode::Shape, std::string(name) + " must have shape [n, 3, h, w] (RGB, values 0..255), got " + shapeToString(t.sizes().vec()));
  if (t.size(0) < 1 || t.size(2) < 1 || t.size(3) < 1)
    throw Error(ErrorCode::Shape, std::string(name) + " is empty: shape " + shapeToString(t.sizes().vec()));
  if (!torch::isfinite(t).all().item<bool>())
    throw Error(ErrorCode::NonFinite, std::string(name) + " contains NaN or Inf values");
  return t;
}

// A batch on the training device (in the chosen layout). To a GPU it goes through pinned host memory, so
// the copy is an asynchronous DMA and the host goes on queueing the forward passes. pin_memory() takes
// its block from LibTorch's caching host allocator, which recycles pinned blocks across steps and, for
// a non_blocking copy, records an event so that no block is reused while a copy from it is in flight:
// a hand-made staging buffer would need that same bookkeeping, and the host-side cost (one memcpy of
// the batch into pinned memory) is the same.
torch::Tensor Session::Impl::toDevice(const torch::Tensor& batch) const {
  auto t = batch;
  if (device.is_cuda() && t.is_cpu()) t = t.pin_memory();
  t = t.to(device, /*non_blocking=*/true);
  return channelsLast ? t.contiguous(at::MemoryFormat::ChannelsLast) : t;
}

SrOutput Session::Impl::teacherForward(TorchModel& teacher, const torch::Tensor& lr) const {
  torch::NoGradGuard noGrad;
  teacher.setTraining(false);
  SrOutput out = translateTorchErrors(ErrorCode::Shape, "teacher forward failed", [&] {
    AutocastScope scope(device.type(), teacherAutocast);
    return teacher.run(lr);
  });
  if (teacherAutocast) out = asFloat32(std::move(out));
  return out;
}

SrOutput Session::Impl::studentForward(TorchModel& student, torch::optim::Adam& optimizer, const torch::Tensor& lr) const {
  optimizer.zero_grad(/*set_to_none=*/true);
  student.setTraining(true);
  SrOutput out = translateTorchErrors(ErrorCode::Shape, "student forward failed", [&] {
    AutocastScope scope(device.type(), autocast);
    return student.run(lr);
  });
  if (autocast) out = asFloat32(std::move(out));
  return out;
}

// The loss parts as numbers. A non-finite loss is an error here, unless the ranks of a process group
// must first learn it together (averageGradients).
StepLosses Session::Impl::lossValues(const LossParts& parts) const {
  std::vector<torch::Tensor> all{parts.total, parts.DS, parts.TS};
  for (const auto& [name, value] : parts.features) all.push_back(value);
  auto values = torch::stack(all).to(torch::kCPU, torch::kDouble);  // one transfer
  auto v = values.accessor<double, 1>();
  StepLosses result;
  result.total = v[0];
  result.DS = v[1];
  result.TS = v[2];
  for (size_t i = 0; i < parts.features.size(); ++i) result.parts.emplace_back(parts.features[i].first, v[3 + static_cast<int64_t>(i)]);
  for (const char* name : {"PSA", "SA"})  // SA reports the SA term, else PSA's (what { SA: { pool } } makes)
    for (const auto& [type, value] : result.parts)
      if (type == name) result.SA = value;
  if (!std::isfinite(result.total) && !group)
    throw Error(ErrorCode::NonFinite, "the loss is not finite (" + describeParts(result) + "); the step was not applied");
  return result;
}

// The student's gradients (loss-scaled in fp16), averaged over the ranks when distributed: before the
// overflow and finiteness checks, so that every rank skips or applies the step alike.
std::vector<torch::Tensor> Session::Impl::backward(TorchModel& student, const LossParts& parts, const StepLosses& losses) {
  const bool lossFinite = std::isfinite(losses.total);
  if (lossFinite)
    translateTorchErrors(ErrorCode::Internal, "backward failed", [&] {
      (scaler.enabled() ? scaler.scaleLoss(parts.total) : parts.total).backward();
    });
  std::vector<torch::Tensor> grads;
  for (auto& p : student.trainableParameters())
    if (p.grad().defined()) grads.push_back(p.grad());
  if (group) averageGradients(student, grads, lossFinite, losses);
  return grads;
}

// Applies the Adam update; false when fp16's gradients overflowed and the step was skipped (not an error:
// the loss scale backs off). Gradients that are not finite otherwise are an error (E_NAN).
bool Session::Impl::applyGradients(torch::optim::Adam& optimizer, std::vector<torch::Tensor>& grads, StepLosses& losses) {
  if (scaler.enabled()) {
    losses.lossScale = scaler.scale();
    const bool overflow = scaler.unscale(grads);
    scaler.update();
    if (overflow) {
      optimizer.zero_grad(true);
      return false;
    }
  }
  if (!grads.empty() && (!scaler.enabled() || adam.clipGradNorm > 0)) {
    auto norm = torch::stack(torch::_foreach_norm(grads)).norm();  // the global L2 norm
    if (!scaler.enabled() && !norm.isfinite().item<bool>()) {
      optimizer.zero_grad(true);
      throw Error(ErrorCode::NonFinite, "the student's gradients are not finite; the step was not applied");
    }
    clipGradients(grads, norm);
  }
  optimizer.step();
  ++steps;
  average.update(optimizer.param_groups().front().params());
  return true;
}

// Scales the gradients down so that their global norm is at most adam.clipGradNorm (as
// torch.nn.utils.clip_grad_norm_, whose 1e-6 it adds to the norm).
void Session::Impl::clipGradients(std::vector<torch::Tensor>& grads, const torch::Tensor& norm) const {
  if (adam.clipGradNorm <= 0) return;
  torch::NoGradGuard noGrad;
  auto coefficient = (adam.clipGradNorm / (norm + 1e-6)).clamp_max(1.0);
  for (auto& g : grads) g.mul_(coefficient);
}

// Data parallel: every rank all-reduces its gradients before the finiteness check, so all ranks see the
// same averaged gradients and then apply or skip the step identically. A rank whose loss is not finite
// still takes part (zero gradients and an "ok" flag of 0, summed in the same buffer) instead of throwing
// early, so the others neither hang nor apply a step it skipped; all ranks then throw E_NAN. A rank that
// fails otherwise before the all-reduce takes part with zero gradients too (see train()), and the others
// throw E_DIST; a rank that dies is caught by the process group's timeout (E_DIST on the others).
void Session::Impl::averageGradients(TorchModel& student, std::vector<torch::Tensor>& grads, bool lossFinite, const StepLosses& local) {
  grads.clear();
  for (auto& p : student.trainableParameters()) {  // every rank must send the same list
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    if (!lossFinite) p.mutable_grad().zero_();
    grads.push_back(p.grad());
  }
  const int world = group->worldSize();
  gradientsReduced = true;  // from here on a failure is the group's, not this rank's alone
  // Flags summed over ranks: [ranks whose loss was finite, ranks that failed before the all-reduce].
  auto flags = group->sumWithFlags(grads, {lossFinite ? 1.0 : 0.0, 0.0});
  const int okRanks = static_cast<int>(flags[0] + 0.5), failedRanks = static_cast<int>(flags[1] + 0.5);
  if (okRanks < world) for (auto& p : student.trainableParameters()) p.mutable_grad() = torch::Tensor();
  if (failedRanks > 0)
    throw Error(ErrorCode::Distributed, std::to_string(failedRanks) + " of " + std::to_string(world) +
                                            " ranks failed this step with an error of their own (see their output); the step was not applied on any rank");
  if (okRanks < world) {
    std::string why = lossFinite ? "" : " (here " + describeParts(local) + ")";
    throw Error(ErrorCode::NonFinite, "the loss is not finite on " + std::to_string(world - okRanks) + " of " +
                                          std::to_string(world) + " ranks" + why + "; the step was not applied on any rank");
  }
  torch::NoGradGuard noGrad;
  for (auto& g : grads) g.div_(world);
}

void Session::Impl::joinFailedStep() {
  if (!student) return;
  try {
    auto& s = asTorchModel(*student);
    std::lock_guard<std::mutex> lock(s.mutex());
    std::vector<torch::Tensor> zeros;
    for (auto& p : s.trainableParameters()) zeros.push_back(torch::zeros_like(p));
    group->sumWithFlags(zeros, {0.0, 1.0});
  } catch (...) {
    // The group itself failed (E_DIST); the others see that through their own timeout.
  }
}

}  // namespace kds
