// Picks the process group for the requested backend, or says why this build or this session cannot
// have it. Which backends exist is decided at build time (KDS_WITH_GLOO, KDS_WITH_NCCL; see CMakeLists.txt).
#include "api/error.h"
#include "dist/backends.h"
#include "dist/process_group.h"

namespace kds::dist {
namespace {

#if defined(KDS_WITH_GLOO) && !defined(KDS_WITH_NCCL)
[[noreturn]] void throwNoNccl() {
#ifdef KDS_WITH_CUDA
  throw Error(ErrorCode::Device,
              "backend 'nccl' needs a CUDA build of kds with NCCL, and this CUDA build was made without it (nccl.h, or the "
              "cuBLAS headers ProcessGroupNCCL includes, were missing; the build's configure output says which): install "
              "nccl.h with `python3 -m pip install --no-deps nvidia-nccl-cu13` next to the CUDA torch (or set "
              "KDS_NCCL_INCLUDE to a folder holding nccl.h) and rebuild; or use backend 'gloo'");
#else
  throw Error(ErrorCode::Device, "backend 'nccl' needs a CUDA build of kds with NCCL; this build is for the CPU (use backend 'gloo')");
#endif
}
#endif

}  // namespace

std::shared_ptr<ProcessGroup> connect(const DistributedOptions& options, torch::Device device) {
#if !defined(KDS_WITH_GLOO) && !defined(KDS_WITH_NCCL)
  (void)options;
  (void)device;
  throw Error(ErrorCode::State,
              "this build has no distributed support: when the addon was built there were no gloo headers that fit "
              "LibTorch's Gloo (the build fetches them with `apt-get download libgloo-dev` and checks them, see "
              "docs/distributed.md; or set KDS_GLOO_INCLUDE to a folder holding gloo/ and rebuild)");
#else
  if (options.backend == "nccl") {
#ifdef KDS_WITH_NCCL
    if (!device.is_cuda())
      throw Error(ErrorCode::Device, "backend 'nccl' runs on the GPU, but this session is on " + device.str() +
                                         ": call setDevice('cuda:N') (N = the local rank) before setDistributed, or use backend 'gloo'");
    return connectNccl(options, device);
#else
    throwNoNccl();
#endif
  }
  if (options.backend == "gloo") {
#ifdef KDS_WITH_GLOO
    (void)device;
    return connectGloo(options);
#else
    throw Error(ErrorCode::State,
                "backend 'gloo' is not in this build: gloo's headers were not found when the addon was built (the build fetches "
                "them with `apt-get download libgloo-dev`; or set KDS_GLOO_INCLUDE to a folder holding gloo/ and rebuild); "
                "use backend 'nccl'");
#endif
  }
  throw Error(ErrorCode::Argument, "unknown distributed backend '" + options.backend + "': expected 'gloo' or 'nccl'");
#endif
}

bool available() {
#ifdef KDS_WITH_GLOO
  return true;
#else
  return false;
#endif
}

bool ncclAvailable() {
#ifdef KDS_WITH_NCCL
  return true;
#else
  return false;
#endif
}

}  // namespace kds::dist
