// The backends behind dist::connect. Each is compiled only when the build has what it needs:
// gloo_group.cc with gloo's headers (KDS_WITH_GLOO), nccl_group.cc in CUDA builds with nccl.h (KDS_WITH_NCCL).
#pragma once
#include <memory>

#include "dist/process_group.h"

namespace kds::dist {

std::shared_ptr<ProcessGroup> connectGloo(const DistributedOptions& options);
// `gpu` is the session's CUDA device; the caller checked that it is one.
std::shared_ptr<ProcessGroup> connectNccl(const DistributedOptions& options, torch::Device gpu);

}  // namespace kds::dist
