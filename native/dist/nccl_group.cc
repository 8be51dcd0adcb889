// The NCCL backend: collectives on the session's GPU, so gradients never leave the device. Compiled only
// in CUDA builds that found nccl.h (KDS_WITH_NCCL, -DUSE_C10D_NCCL); libtorch_cuda.so holds
// ProcessGroupNCCL and links NCCL itself. The rendezvous and buckets are in collectives.cc.
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include <cstdlib>

#include "dist/backends.h"
#include "dist/collectives.h"

namespace kds::dist {

std::shared_ptr<ProcessGroup> connectNccl(const DistributedOptions& options, torch::Device gpu) {
  if (!gpu.has_index()) gpu = torch::Device(torch::kCUDA, c10::cuda::current_device());
  // Blocking wait: a stuck or dead peer then fails the waiting call with an exception (E_DIST, as with
  // Gloo) after timeoutMs. Without it ProcessGroupNCCL starts a watchdog thread that, on a timeout, tears
  // the whole process down (TORCH_NCCL_ASYNC_ERROR_HANDLING defaults to 3). A value the user set wins.
  // POSIX setenv rather than c10::utils::set_env, which older LibTorch releases (such as a GPU machine's) lack.
  ::setenv("TORCH_NCCL_BLOCKING_WAIT", "1", /*overwrite=*/0);
  return connectC10d(options, gpu, [&](const c10::intrusive_ptr<c10d::Store>& store, std::chrono::milliseconds timeout) {
    auto ncclOptions = c10d::ProcessGroupNCCL::Options::create();
    ncclOptions->timeout = timeout;  // every collective's limit (and the communicator setup's)
    auto group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, options.rank, options.worldSize, ncclOptions);
    // Bind this rank to its GPU and set the communicator up now, so that the rendezvous covers NCCL's own
    // handshake (otherwise it happens lazily in the first broadcast).
    group->setBoundDeviceId(gpu);
    group->eagerConnectSingleDevice(gpu);
    return c10::intrusive_ptr<c10d::Backend>(std::move(group));
  });
}

}  // namespace kds::dist
