// One distillation session: the KDS object of the seed API. Methods are called from one thread at a
// time (the glue serialises them); train() is the expensive one and runs on a worker thread.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "api/feature_terms.h"
#include "api/model.h"
#include "api/tensor.h"

namespace kds {

// The option structs below carry no defaults (fields are value-initialised): lib/session-options.ts and
// lib/distributed.ts own the defaults and checks and set every field. A new Session has no loss, optimiser
// or precision settings until they are set; KDS's constructor sets all three.

// One feature-distillation term of the loss (api/feature_terms.h; formulas in docs/losses.md).
struct FeatureTermSpec {
  std::string type;            // a registered term: "SA", "PSA", "RBF", "MMD", "CA", "IA", "FSP", "AT", "fitnet"
  double weight{};
  std::vector<int> positions;  // empty: every feature pair
  TermOptions options;         // every option the term's row names
};

struct LossOptions {
  // Total = DS * L1(student, HR) + TS * L1(student, teacher) + sum over the features of weight * term.
  double weightDS{};
  double weightTS{};
  std::vector<FeatureTermSpec> features;
};

struct AdamOptions {
  double lr{};
  double beta1{};
  double beta2{};
  double eps{};
  double weightDecay{};
  double clipGradNorm{};  // > 0: the gradients' global L2 norm is clipped to it before each update
};

// Mixed precision of the training step. "bf16" and "fp16" run the teacher and student forward passes under
// autocast and compute the loss in float32 on float32 copies of their outputs; weights, gradients and
// Adam's state stay float32. "fp16" also scales the loss (dynamic loss scaling; torch.amp.GradScaler's
// defaults, set in lib/kds.ts).
struct PrecisionOptions {
  std::string precision;  // "fp32", "bf16" or "fp16"
  double initScale{};
  double growthFactor{};
  double backoffFactor{};
  int64_t growthInterval{};
};

// Wall-clock milliseconds of the phases of one train() call, timed with std::chrono::steady_clock on the
// calling thread, so benchmarks can say where a step's time goes. On CUDA a phase ends when its kernels
// are queued (no synchronisation is added); reading the loss values back synchronises.
struct StepTimings {
  double prepare = 0;         // input checks, locks, copies to the device
  double teacherForward = 0;  // without autograd
  double studentForward = 0;  // with zeroing the gradients
  double loss = 0;            // DS, TS, SA and reading the values back
  double backward = 0;         // and, distributed, the gradients' all-reduce
  double optimizer = 0;       // the gradients' finiteness check and the Adam update
  double total = 0;           // the whole call
};

struct StepLosses {
  double total = 0, DS = 0, TS = 0;  // parts unweighted
  double SA = 0;                     // the SA term's value (PSA's when that is the one on); 0 when off
  std::vector<std::pair<std::string, double>> parts;  // every feature term's unweighted value, by type
  // fp16: the step's gradients overflowed, so it was skipped (weights and Adam unchanged) and the loss
  // scale lowered. Not an error: dynamic loss scaling expects it now and then.
  bool skipped = false;
  double lossScale = 1.0;  // fp16: the loss scale the step used; 1 otherwise
  StepTimings timings;
};

// Data-parallel training across processes (see docs/distributed.md). lib/ validates the values.
struct DistributedOptions {
  int rank{};
  int worldSize{};
  std::string masterAddr;
  int masterPort{};
  std::string backend;  // "gloo" (CPU) or "nccl" (CUDA builds only)
  int64_t timeoutMs{};  // rendezvous and every collective; a dead peer fails a step within it
};

class Session {
 public:
  Session();
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void setDevice(const std::string& device);
  std::string device() const;
  void setTeacher(ModelPtr teacher);
  void setStudent(ModelPtr student);
  void setLoss(const LossOptions& options);
  void setOptimizer(const AdamOptions& options);
  // Throws E_DEVICE when the current device cannot autocast to it (and setDevice, for a device that
  // cannot autocast to the current precision). Resets fp16's loss scale.
  void setPrecision(const PrecisionOptions& options);
  // The teacher forward's own precision: "step" (the default: setPrecision's), "fp32", "bf16" or "fp16".
  // The teacher needs no gradients, so it can run in bf16 while the student trains in float32; its
  // outputs and features reach the loss as float32. E_DEVICE when the device has no hardware arithmetic
  // for it (setDevice too, for a device that lacks it), E_ARG when unknown.
  void setTeacherPrecision(const std::string& precision);
  // true: teacher, student and input batches in channels-last layout (NHWC strides, same values), which
  // convolutions on NVIDIA tensor cores prefer. Converts the models' 4-D parameters in place.
  void setChannelsLast(bool on);
  // A moving average of the student's weights (see optim/weight_average.h): decay in [0, 1), 0 turns it
  // off. (Re)starts the average. While on, saveStudent saves the average and checkpoints store it.
  void setEma(double decay);
  // Exchanges the student's weights with their average (a second call restores them); false, and nothing
  // changes, while there is no average (off, or before the first step).
  bool swapAveragedWeights();
  // One optimisation step. On any error no weight and no optimiser state changes.
  StepLosses train(const Tensor& lr, const Tensor& hr);
  void saveStudent(const std::string& path);
  // Student weights, Adam's state, the step count, LibTorch's CPU RNG state, fp16's loss-scaler state
  // (when fp16 is on) and `extra` (opaque text
  // that lib/ uses for the schedule and sampler state), in one atomically written file.
  void saveCheckpoint(const std::string& path, const std::string& extra);
  // Restores what saveCheckpoint wrote into the current student and returns `extra`. All or nothing.
  std::string loadCheckpoint(const std::string& path);
  int64_t steps() const;
  // Joins the process group (blocks until every rank joined). From the next train() on, rank 0's weights
  // and optimiser state are broadcast once, and every step averages the gradients across ranks.
  void setDistributed(const DistributedOptions& options);
  int rank() const;       // 0 without a process group
  int worldSize() const;  // 1 without a process group

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kds
