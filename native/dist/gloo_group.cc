// The Gloo backend: collectives on CPU tensors (a CUDA gradient goes through the host). Compiled only when
// the build found gloo's headers (KDS_DISTRIBUTED=ON); the rendezvous and buckets are in collectives.cc.
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <cstdlib>

#include "dist/backends.h"
#include "dist/collectives.h"

namespace kds::dist {
namespace {

bool isLoopback(const std::string& addr) { return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1"; }

// Gloo binds to an address the peers can reach: loopback for single-node runs; otherwise the
// interface in GLOO_SOCKET_IFNAME (as in PyTorch), else the address this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> transportDevice(const std::string& masterAddr) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (isLoopback(masterAddr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

std::shared_ptr<ProcessGroup> connectGloo(const DistributedOptions& options) {
  return connectC10d(options, torch::kCPU, [&](const c10::intrusive_ptr<c10d::Store>& store, std::chrono::milliseconds timeout) {
    auto glooOptions = c10d::ProcessGroupGloo::Options::create(timeout);
    glooOptions->devices.push_back(transportDevice(options.masterAddr));
    return c10::intrusive_ptr<c10d::Backend>(c10::make_intrusive<c10d::ProcessGroupGloo>(store, options.rank, options.worldSize, glooOptions));
  });
}

}  // namespace kds::dist
