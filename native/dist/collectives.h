// What the Gloo and NCCL process groups share: the TCP store rendezvous, bucketed collectives over
// flattened tensors, and the failure latch. A backend only says how to build its c10d::Backend and on
// which device its collectives run.
#pragma once
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <functional>
#include <memory>

#include "dist/process_group.h"

namespace kds::dist {

using BackendFactory =
    std::function<c10::intrusive_ptr<c10d::Backend>(const c10::intrusive_ptr<c10d::Store>& store, std::chrono::milliseconds timeout)>;

// Joins the TCP store at masterAddr:masterPort (rank 0 serves it) and builds the backend with
// `makeBackend`, failing with E_DIST when either does not finish within options.timeoutMs. The group
// flattens each bucket onto `collectiveDevice` for its collective: the CPU for Gloo (CUDA tensors go
// through the host), the session's GPU for NCCL (no copy when the tensors already live there).
std::shared_ptr<ProcessGroup> connectC10d(const DistributedOptions& options, torch::Device collectiveDevice, const BackendFactory& makeBackend);

}  // namespace kds::dist
