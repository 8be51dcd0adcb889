// kds::Session: the models, loss, optimiser, precision and process group a step uses, and checkpoints.
// The step itself is in train_step.cc.
#include <map>
#include <mutex>

#include "api/error.h"
#include "core/runtime.h"
#include "io/checkpoint.h"
#include "io/state_dict.h"
#include "optim/adam_state.h"
#include "session/session_impl.h"

namespace kds {
namespace {

// Gives the 4-D parameters of a model (convolution weights) the channels-last or the default layout: same
// values, other strides. set_data keeps each parameter's identity, so Adam's state still belongs to it.
void applyMemoryFormat(TorchModel& model, bool channelsLast) {
  torch::NoGradGuard noGrad;
  const auto format = channelsLast ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  for (auto& [name, p] : model.namedParameters())
    if (p.dim() == 4 && !p.is_contiguous(format)) p.set_data(p.contiguous(format));
}

}  // namespace

torch::optim::AdamOptions Session::Impl::torchAdamOptions() const {
  return torch::optim::AdamOptions(adam.lr).betas({adam.beta1, adam.beta2}).eps(adam.eps).weight_decay(adam.weightDecay);
}

torch::optim::Adam& Session::Impl::ensureOptimizer() {
  if (!optimizer) {
    auto params = asTorchModel(*student).trainableParameters();
    if (params.empty()) throw Error(ErrorCode::State, "the student has no trainable parameters");
    optimizer = std::make_unique<torch::optim::Adam>(params, torchAdamOptions());
    steps = 0;
  }
  return *optimizer;
}

// Ranks must agree on the step count and on which parameters have Adam state (all loaded the same
// checkpoint, or none); they learn together whether one does not, and then all throw E_STATE, so their
// collectives stay paired.
void Session::Impl::syncStudentFromRoot() {
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

Session::Session() : impl_(std::make_unique<Impl>()) {}
Session::~Session() = default;

void Session::setDevice(const std::string& name) {
  auto device = parseDevice(name);
  auto autocast = autocastDtype(impl_->precision.precision, device.type());  // E_DEVICE before any change
  auto teacherAutocast = teacherAutocastDtype(impl_->teacherPrecision, autocast, device);
  if (impl_->optimizer && impl_->steps > 0 && device != impl_->device)
    throw Error(ErrorCode::State, "setDevice('" + name + "') after training started: the optimiser state lives on " +
                                      impl_->device.str() + "; choose the device before the first train() call");
  impl_->device = device;
  impl_->autocast = autocast;
  impl_->teacherAutocast = teacherAutocast;
  impl_->scaler.moveTo(device);
  if (impl_->teacher) asTorchModel(*impl_->teacher).moveTo(device);
  if (impl_->student) asTorchModel(*impl_->student).moveTo(device);
  impl_->average.moveTo(device);
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
  impl_->optimizer.reset();  // a new student gets a fresh Adam, and a fresh weight average
  impl_->average.configure(impl_->average.decay());
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
  auto teacherAutocast = teacherAutocastDtype(impl_->teacherPrecision, autocast, impl_->device);
  impl_->precision = options;
  impl_->autocast = autocast;
  impl_->teacherAutocast = teacherAutocast;
  if (options.precision == "fp16")
    impl_->scaler.reset(options, impl_->device);
  else
    impl_->scaler.disable();
}

void Session::setTeacherPrecision(const std::string& precision) {
  impl_->teacherAutocast = teacherAutocastDtype(precision, impl_->autocast, impl_->device);
  impl_->teacherPrecision = precision;
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

void Session::setEma(double decay) { impl_->average.configure(decay); }

bool Session::swapAveragedWeights() {
  if (!impl_->student || !impl_->average.enabled() || impl_->average.updates() == 0) return false;
  auto& student = asTorchModel(*impl_->student);
  std::lock_guard<std::mutex> lock(student.mutex());
  auto params = student.trainableParameters();
  impl_->average.swapInto(params);
  return true;
}

// With a weight average, the average is what is saved (the trained weights are put back afterwards).
void Session::saveStudent(const std::string& path) {
  if (!impl_->student) throw Error(ErrorCode::State, "saveStudentModel() before setStudent(): there is no student to save");
  const bool swapped = swapAveragedWeights();
  try {
    impl_->student->save(path);
  } catch (...) {
    if (swapped) swapAveragedWeights();
    throw;
  }
  if (swapped) swapAveragedWeights();
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
  c.ema = impl_->average.state();
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
  auto average = WeightAverage::check(c.ema, student.trainableParameters(), path);  // before anything changes
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
  impl_->average.adopt(std::move(average));
  impl_->syncFromRoot = true;
  if (c.rng.numel() > 0) {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> genLock(generator.mutex());
    translateTorchErrors(ErrorCode::File, "checkpoint '" + path + "': bad RNG state", [&] { generator.set_state(c.rng); });
  }
  return c.extra;
}

}  // namespace kds
