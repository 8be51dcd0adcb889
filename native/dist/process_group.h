// Data-parallel collectives for the training session, behind a plain interface: only native/dist/*.cc
// include c10d's headers (Gloo's need gloo's headers and -DUSE_C10D_GLOO, NCCL's need nccl.h and
// -DUSE_C10D_NCCL), so the rest of the core and the N-API glue compile the same with or without
// distributed support (CMake options KDS_DISTRIBUTED and KDS_NCCL_INCLUDE).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "api/session.h"

namespace kds::dist {

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int worldSize() const = 0;
  // Overwrites every tensor (in place, same shapes on all ranks) with rank 0's values.
  virtual void broadcastFromRoot(const std::vector<torch::Tensor>& tensors) = 0;
  // Sums `tensors` over all ranks in place, in buckets (one collective per bucket of up to 25 MB), and
  // returns the sums of `flags` over all ranks, which travel in the last bucket.
  virtual std::vector<double> sumWithFlags(const std::vector<torch::Tensor>& tensors, const std::vector<double>& flags) = 0;
};

// After a collective failed, every later call throws E_DIST at once (the ranks' sequence of collectives is
// no longer known to match).
//
// Rendezvous with the other ranks (TCP store at masterAddr:masterPort, rank 0 serves it) and builds the
// backend's process group. Blocks until all worldSize ranks joined or options.timeoutMs passed (E_DIST).
// `device` is the session's device: NCCL runs its collectives on it (it must be a GPU).
// Builds without distributed support throw E_STATE; backend "nccl" without a CUDA build with NCCL, or
// with the session on the CPU, throws E_DEVICE.
std::shared_ptr<ProcessGroup> connect(const DistributedOptions& options, torch::Device device);

// Whether this build has distributed support with Gloo (for `kds info`).
bool available();
// Whether this build has the NCCL backend (a CUDA build that found nccl.h).
bool ncclAvailable();

}  // namespace kds::dist
