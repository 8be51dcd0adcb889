#include "api/session.h"

#include <chrono>
#include <mutex>

#include "api/error.h"
#include "core/precision.h"
#include "core/runtime.h"
#include "core/torch_tensor.h"
#include "dist/process_group.h"
#include "io/checkpoint.h"
#include "losses/distill_loss.h"
#include "models/torch_model.h"
#include "optim/adam_state.h"

namespace kds {
namespace {

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

// Gives the 4-D parameters of a model (convolution weights) the channels-last or the default layout: same
// values, other strides. set_data keeps each parameter's identity, so Adam's state still belongs to it.
void applyMemoryFormat(TorchModel& model, bool channelsLast) {
  torch::NoGradGuard noGrad;
  const auto format = channelsLast ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  for (auto& [name, p] : model.namedParameters())
    if (p.dim() == 4 && !p.is_contiguous(format)) p.set_data(p.contiguous(format));
}

// Reduced-precision outputs of an autocast forward as float32, for the loss (float32 math throughout).
SrOutput asFloat32(SrOutput out) {
  for (auto& f : out.features)
    if (f.is_floating_point() && f.scalar_type() != torch::kFloat) f = f.to(torch::kFloat);
  if (out.output.scalar_type() != torch::kFloat) out.output = out.output.to(torch::kFloat);
  return out;
}

// The loss parts as numbers, read back in one transfer. SA reports the SA term (PSA's when that is the one on).
StepLosses lossValues(const LossParts& parts) {
  std::vector<torch::Tensor> all{parts.total, parts.DS, parts.TS};
  for (const auto& [name, value] : parts.features) all.push_back(value);
  auto values = torch::stack(all).to(torch::kCPU, torch::kDouble);
  auto v = values.accessor<double, 1>();
  StepLosses result;
  result.total = v[0];
  result.DS = v[1];
  result.TS = v[2];
  for (size_t i = 0; i < parts.features.size(); ++i) result.parts.emplace_back(parts.features[i].first, v[3 + static_cast<int64_t>(i)]);
  for (const char* name : {"PSA", "SA"})
    for (const auto& [type, value] : result.parts)
      if (type == name) result.SA = value;
  return result;
}

std::string describeParts(const StepLosses& r) {
  std::string out = "DS " + std::to_string(r.DS) + ", TS " + std::to_string(r.TS);
  for (const auto& [name, value] : r.parts) out += ", " + name + " " + std::to_string(value);
  return out;
}

}  // namespace

struct Session::Impl {
  torch::Device device{torch::kCPU};
  ModelPtr teacher, student;
  LossOptions loss;
  AdamOptions adam;
  std::unique_ptr<torch::optim::Adam> optimizer;  // built for the current student on first use
  int64_t steps = 0;                              // steps applied with the current optimizer
  PrecisionOptions precision;
  std::optional<at::ScalarType> autocast;  // the forward passes' autocast dtype; none for fp32
  GradScaler scaler;                       // enabled for fp16 only
  bool channelsLast = false;
  std::shared_ptr<dist::ProcessGroup> group;      // data-parallel training, from setDistributed()
  bool syncFromRoot = false;                      // broadcast rank 0's student before the next step

  torch::optim::AdamOptions torchAdamOptions() const {
    return torch::optim::AdamOptions(adam.lr).betas({adam.beta1, adam.beta2}).eps(adam.eps).weight_decay(adam.weightDecay);
  }

  torch::optim::Adam& ensureOptimizer() {
    if (!optimizer) {
      auto params = asTorchModel(*student).trainableParameters();
      if (params.empty()) throw Error(ErrorCode::State, "the student has no trainable parameters");
      optimizer = std::make_unique<torch::optim::Adam>(params, torchAdamOptions());
      steps = 0;
    }
    return *optimizer;
  }

  // Before the first step after setDistributed, setStudent or loadCheckpoint: every rank starts from rank
  // 0's weights and Adam state. Ranks must agree on the step count and on which parameters have Adam
  // state (all loaded the same checkpoint, or none); they learn together whether one does not, and then
  // all throw E_STATE, so their collectives stay paired.
  void syncStudentFromRoot() {
    if (!syncFromRoot || !student) return;
    auto& s = asTorchModel(*student);
    std::lock_guard<std::mutex> lock(s.mutex());
    auto& adam = ensureOptimizer();
    std::vector<torch::Tensor> tensors;
    for (auto& [name, p] : s.namedParameters()) tensors.push_back(p.detach());
    for (auto& [name, t] : exportAdamState(adam, s.trainableParameters()))
      if (name.find(".exp_avg") != std::string::npos) tensors.push_back(t);
    auto header = torch::tensor({static_cast<double>(steps), static_cast<double>(tensors.size())}, torch::kDouble);
    group->broadcastFromRoot({header});
    const bool differs = header[0].item<double>() != static_cast<double>(steps) || header[1].item<double>() != static_cast<double>(tensors.size());
    const int differing = static_cast<int>(group->sumWithFlags({}, {differs ? 1.0 : 0.0})[0] + 0.5);
    if (differs)
      throw Error(ErrorCode::State, "rank " + std::to_string(group->rank()) + ": its step count (" + std::to_string(steps) +
                                        ") or optimiser state differs from rank 0's (step " + std::to_string(header[0].item<int64_t>()) +
                                        "); every rank must load the same checkpoint");
    if (differing > 0)
      throw Error(ErrorCode::State, std::to_string(differing) + " rank(s) hold another step count or optimiser state than rank 0; every rank must load the same checkpoint");
    group->broadcastFromRoot(tensors);
    syncFromRoot = false;
  }

  bool gradientsReduced = false;  // this step's all-reduce took place (distributed)
  StepLosses step(const Tensor& lr, const Tensor& hr);
  void averageGradients(TorchModel& student, std::vector<torch::Tensor>& grads, bool lossFinite, const StepLosses& local);
  void joinFailedStep();

  torch::Tensor checkedImage(const Tensor& tensor, const char* name) const {
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
  torch::Tensor toDevice(const torch::Tensor& batch) const {
    auto t = batch;
    if (device.is_cuda() && t.is_cpu()) t = t.pin_memory();
    t = t.to(device, /*non_blocking=*/true);
    return channelsLast ? t.contiguous(at::MemoryFormat::ChannelsLast) : t;
  }
};

Session::Session() : impl_(std::make_unique<Impl>()) {}
Session::~Session() = default;

void Session::setDevice(const std::string& name) {
  auto device = parseDevice(name);
  auto autocast = autocastDtype(impl_->precision.precision, device.type());  // E_DEVICE before any change
  if (impl_->optimizer && impl_->steps > 0 && device != impl_->device)
    throw Error(ErrorCode::State, "setDevice('" + name + "') after training started: the optimiser state lives on " +
                                      impl_->device.str() + "; choose the device before the first train() call");
  impl_->device = device;
  impl_->autocast = autocast;
  impl_->scaler.moveTo(device);
  if (impl_->teacher) asTorchModel(*impl_->teacher).moveTo(device);
  if (impl_->student) asTorchModel(*impl_->student).moveTo(device);
}

std::string Session::device() const { return impl_->device.str(); }

void Session::setTeacher(ModelPtr teacher) {
  if (!teacher) throw Error(ErrorCode::Argument, "setTeacher: expected a model");
  if (teacher == impl_->student) throw Error(ErrorCode::Argument, "setTeacher: the teacher must be a different model from the student");
  if (impl_->student && teacher->scale() && impl_->student->scale() && *teacher->scale() != *impl_->student->scale())
    throw Error(ErrorCode::Shape, "setTeacher: teacher scale x" + std::to_string(*teacher->scale()) + " differs from student scale x" +
                                      std::to_string(*impl_->student->scale()));
  auto& t = asTorchModel(*teacher);
  std::lock_guard<std::mutex> lock(t.mutex());
  t.moveTo(impl_->device);
  if (impl_->channelsLast) applyMemoryFormat(t, true);
  t.setTraining(false);
  impl_->teacher = std::move(teacher);
}

void Session::setStudent(ModelPtr student) {
  if (!student) throw Error(ErrorCode::Argument, "setStudent: expected a model");
  if (student == impl_->teacher) throw Error(ErrorCode::Argument, "setStudent: the student must be a different model from the teacher");
  if (impl_->teacher && student->scale() && impl_->teacher->scale() && *student->scale() != *impl_->teacher->scale())
    throw Error(ErrorCode::Shape, "setStudent: student scale x" + std::to_string(*student->scale()) + " differs from teacher scale x" +
                                      std::to_string(*impl_->teacher->scale()));
  auto& s = asTorchModel(*student);
  if (s.trainableParameters().empty()) throw Error(ErrorCode::Argument, "setStudent: the model has no trainable parameters");
  std::lock_guard<std::mutex> lock(s.mutex());
  s.moveTo(impl_->device);
  if (impl_->channelsLast) applyMemoryFormat(s, true);
  impl_->student = std::move(student);
  impl_->optimizer.reset();  // a new student gets a fresh Adam
  impl_->syncFromRoot = true;
}

void Session::setLoss(const LossOptions& options) { impl_->loss = options; }

void Session::setOptimizer(const AdamOptions& options) {
  impl_->adam = options;
  if (impl_->optimizer) {  // keep the moments; change the hyper-parameters
    for (auto& group : impl_->optimizer->param_groups())
      static_cast<torch::optim::AdamOptions&>(group.options()) = impl_->torchAdamOptions();
  }
}

void Session::setPrecision(const PrecisionOptions& options) {
  auto autocast = autocastDtype(options.precision, impl_->device.type());
  impl_->precision = options;
  impl_->autocast = autocast;
  if (options.precision == "fp16")
    impl_->scaler.reset(options, impl_->device);
  else
    impl_->scaler.disable();
}

void Session::setChannelsLast(bool on) {
  impl_->channelsLast = on;
  for (auto* model : {impl_->teacher.get(), impl_->student.get()}) {
    if (!model) continue;
    auto& m = asTorchModel(*model);
    std::lock_guard<std::mutex> lock(m.mutex());
    applyMemoryFormat(m, on);
  }
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

StepLosses Session::Impl::step(const Tensor& lrTensor, const Tensor& hrTensor) {
  PhaseClock clock;
  StepTimings timings;
  applyThreadSettings();
  auto& impl = *this;
  const bool needTeacher = lossNeedsTeacher(impl.loss);
  if (!impl.student) throw Error(ErrorCode::State, "train() before setStudent(): set a student model first");
  if (needTeacher && !impl.teacher)
    throw Error(ErrorCode::State, "train() before setTeacher(): set a teacher, or turn TS and the feature terms off with setLoss({ weights: { TS: 0 }, features: [] })");

  auto lr = impl.checkedImage(lrTensor, "lr");
  auto hr = impl.checkedImage(hrTensor, "hr");
  if (lr.size(0) != hr.size(0))
    throw Error(ErrorCode::Shape, "lr and hr batch sizes differ: " + shapeToString(lr.sizes().vec()) + " vs " + shapeToString(hr.sizes().vec()));
  if (auto scale = impl.student->scale()) {
    if (hr.size(2) != *scale * lr.size(2) || hr.size(3) != *scale * lr.size(3))
      throw Error(ErrorCode::Shape, "hr must be x" + std::to_string(*scale) + " the size of lr: lr " + shapeToString(lr.sizes().vec()) +
                                        " needs hr [" + std::to_string(lr.size(0)) + ", 3, " + std::to_string(*scale * lr.size(2)) + ", " +
                                        std::to_string(*scale * lr.size(3)) + "], got " + shapeToString(hr.sizes().vec()));
  }

  auto& student = asTorchModel(*impl.student);
  TorchModel* teacher = needTeacher ? &asTorchModel(*impl.teacher) : nullptr;
  std::unique_lock<std::mutex> studentLock(student.mutex(), std::defer_lock), teacherLock;
  if (teacher) {
    teacherLock = std::unique_lock<std::mutex>(teacher->mutex(), std::defer_lock);
    std::lock(studentLock, teacherLock);
  } else {
    studentLock.lock();
  }
  auto& optimizer = impl.ensureOptimizer();

  lr = impl.toDevice(lr);
  hr = impl.toDevice(hr);
  timings.prepare = clock.lap();

  SrOutput teacherOut;
  if (teacher) {
    torch::NoGradGuard noGrad;
    teacher->setTraining(false);
    teacherOut = translateTorchErrors(ErrorCode::Shape, "teacher forward failed", [&] {
      AutocastScope autocast(impl.device.type(), impl.autocast);
      return teacher->run(lr);
    });
    if (impl.autocast) teacherOut = asFloat32(std::move(teacherOut));
  }
  timings.teacherForward = clock.lap();
  optimizer.zero_grad(/*set_to_none=*/true);
  student.setTraining(true);
  SrOutput studentOut = translateTorchErrors(ErrorCode::Shape, "student forward failed", [&] {
    AutocastScope autocast(impl.device.type(), impl.autocast);
    return student.run(lr);
  });
  if (impl.autocast) studentOut = asFloat32(std::move(studentOut));
  timings.studentForward = clock.lap();

  LossParts parts = distillationLoss(studentOut, teacher ? &teacherOut : nullptr, hr, impl.loss);
  StepLosses result = lossValues(parts);
  const bool lossFinite = std::isfinite(result.total);
  if (!lossFinite && !impl.group)
    throw Error(ErrorCode::NonFinite, "the loss is not finite (" + describeParts(result) + "); the step was not applied");
  timings.loss = clock.lap();

  if (lossFinite)
    translateTorchErrors(ErrorCode::Internal, "backward failed", [&] {
      (impl.scaler.enabled() ? impl.scaler.scaleLoss(parts.total) : parts.total).backward();
    });
  std::vector<torch::Tensor> grads;
  for (auto& p : student.trainableParameters())
    if (p.grad().defined()) grads.push_back(p.grad());
  // Averaged before the overflow and finiteness checks, so every rank skips or applies the step alike.
  if (impl.group) impl.averageGradients(student, grads, lossFinite, result);  // counted in the backward time
  timings.backward = clock.lap();
  if (impl.scaler.enabled()) {  // fp16: unscale; on overflow skip the step (not an error) and back off
    result.lossScale = impl.scaler.scale();
    const bool overflow = impl.scaler.unscale(grads);
    impl.scaler.update();
    if (overflow) {
      optimizer.zero_grad(true);
      result.skipped = true;
      timings.optimizer = clock.lap();
      timings.total = clock.sinceStart();
      result.timings = timings;
      return result;
    }
  } else if (!grads.empty() && !torch::stack(torch::_foreach_norm(grads)).isfinite().all().item<bool>()) {
    optimizer.zero_grad(true);
    throw Error(ErrorCode::NonFinite, "the student's gradients are not finite; the step was not applied");
  }
  optimizer.step();
  ++impl.steps;
  timings.optimizer = clock.lap();
  timings.total = clock.sinceStart();
  result.timings = timings;
  return result;
}

void Session::saveStudent(const std::string& path) {
  if (!impl_->student) throw Error(ErrorCode::State, "saveStudentModel() before setStudent(): there is no student to save");
  impl_->student->save(path);
}

int64_t Session::steps() const { return impl_->steps; }

void Session::saveCheckpoint(const std::string& path, const std::string& extra) {
  if (!impl_->student) throw Error(ErrorCode::State, "saveCheckpoint() before setStudent(): there is no student to save");
  auto& student = asTorchModel(*impl_->student);
  std::lock_guard<std::mutex> lock(student.mutex());
  Checkpoint c;
  c.student = student.namedParameters();
  c.optimizer = exportAdamState(impl_->ensureOptimizer(), student.trainableParameters());
  c.steps = impl_->steps;
  c.gradScaler = impl_->scaler.state();
  {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> genLock(generator.mutex());
    c.rng = generator.get_state();
  }
  c.extra = extra;
  writeCheckpoint(path, c);
}

void Session::setDistributed(const DistributedOptions& options) {
  if (impl_->group) throw Error(ErrorCode::State, "setDistributed(): this session already joined a process group");
  impl_->group = dist::connect(options, impl_->device);  // NCCL works on the session's GPU
  impl_->syncFromRoot = true;
}

int Session::rank() const { return impl_->group ? impl_->group->rank() : 0; }
int Session::worldSize() const { return impl_->group ? impl_->group->worldSize() : 1; }

std::string Session::loadCheckpoint(const std::string& path) {
  if (!impl_->student) throw Error(ErrorCode::State, "loadCheckpoint() before setStudent(): set the student the checkpoint belongs to first");
  Checkpoint c = readCheckpoint(path);
  GradScaler::checkState(c.gradScaler, path);
  auto& student = asTorchModel(*impl_->student);
  std::lock_guard<std::mutex> lock(student.mutex());
  auto& optimizer = impl_->ensureOptimizer();
  std::map<std::string, torch::Tensor> state(c.optimizer.begin(), c.optimizer.end());
  // Weights first (validated as a whole by applyStateDict); if the optimiser state then does not fit,
  // put the old weights back so that a failed load changes nothing.
  std::vector<torch::Tensor> before;
  for (auto& [name, p] : student.namedParameters()) before.push_back(p.detach().clone());
  applyStateDict(student.namedParameters(), c.student, /*strict=*/true, [](const std::string&) { return false; }, path);
  try {
    importAdamState(optimizer, student.trainableParameters(), state, path);
  } catch (...) {
    torch::NoGradGuard noGrad;
    auto params = student.namedParameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].second.copy_(before[i]);
    throw;
  }
  impl_->steps = c.steps;
  impl_->scaler.loadState(c.gradScaler);
  impl_->syncFromRoot = true;
  if (c.rng.numel() > 0) {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> genLock(generator.mutex());
    translateTorchErrors(ErrorCode::File, "checkpoint '" + path + "': bad RNG state", [&] { generator.set_state(c.rng); });
  }
  return c.extra;
}

}  // namespace kds
