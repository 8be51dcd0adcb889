// The process group on c10d: a TCPStore for the rendezvous (rank 0 serves it) and ProcessGroupGloo for
// the collectives. Compiled only when the build found gloo's headers (KDS_DISTRIBUTED=ON).
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>

#include "api/error.h"
#include "dist/process_group.h"

namespace kds::dist {
namespace {

constexpr int64_t kBucketBytes = 25 << 20;  // like DistributedDataParallel's default bucket size

bool isLoopback(const std::string& addr) { return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1"; }

// Runs a c10d call and reports its failure as E_DIST, naming the rank and what it was doing; a dead or
// stuck peer surfaces here, as a connection error or as the timeout.
template <typename Fn>
auto distributedCall(int rank, const std::string& what, int64_t timeoutMs, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const kds::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error(ErrorCode::Distributed, "rank " + std::to_string(rank) + ": " + what + " failed (a peer process may have exited, or did not answer within " +
                                            std::to_string(timeoutMs) + " ms): " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Error(ErrorCode::Distributed, "rank " + std::to_string(rank) + ": " + what + " failed: " + e.what());
  }
}

class GlooGroup final : public ProcessGroup {
 public:
  explicit GlooGroup(const DistributedOptions& o) : options_(o) {
    auto timeout = std::chrono::milliseconds(o.timeoutMs);
    distributedCall(o.rank, "rendezvous at " + o.masterAddr + ":" + std::to_string(o.masterPort), o.timeoutMs, [&] {
      c10d::TCPStoreOptions storeOptions;
      storeOptions.port = static_cast<uint16_t>(o.masterPort);
      storeOptions.isServer = o.rank == 0;
      storeOptions.numWorkers = o.worldSize;
      storeOptions.waitWorkers = true;
      storeOptions.timeout = timeout;
      store_ = c10::make_intrusive<c10d::TCPStore>(o.masterAddr, storeOptions);
      auto glooOptions = c10d::ProcessGroupGloo::Options::create(timeout);
      glooOptions->devices.push_back(transportDevice(o.masterAddr));
      group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, o.rank, o.worldSize, glooOptions);
    });
  }

  int rank() const override { return options_.rank; }
  int worldSize() const override { return options_.worldSize; }

  void broadcastFromRoot(const std::vector<torch::Tensor>& tensors) override {
    torch::NoGradGuard noGrad;
    for (auto& bucket : buckets(tensors)) {
      std::vector<torch::Tensor> flat{flatten(bucket)};
      run("broadcast from rank 0", [&] { return group_->broadcast(flat); });
      copyBack(flat[0], bucket);
    }
  }

  std::vector<double> sumWithFlags(const std::vector<torch::Tensor>& tensors, const std::vector<double>& flags) override {
    torch::NoGradGuard noGrad;
    auto groups = buckets(tensors);
    if (groups.empty()) groups.emplace_back();
    std::vector<double> sums(flags.size());
    const int64_t nFlags = static_cast<int64_t>(flags.size());
    for (size_t b = 0; b < groups.size(); ++b) {
      const bool last = b + 1 == groups.size();
      auto options = groups[b].empty() ? torch::TensorOptions(torch::kFloat) : groups[b][0].options();
      std::vector<torch::Tensor> parts;
      for (auto& t : groups[b]) parts.push_back(t.reshape(-1));
      if (last) parts.push_back(torch::tensor(flags, torch::kDouble).to(options));
      std::vector<torch::Tensor> flat{torch::cat(parts).to(torch::kCPU).contiguous()};
      run("gradient all-reduce", [&] { return group_->allreduce(flat); });
      copyBack(flat[0], groups[b]);
      if (last)
        for (int64_t i = 0; i < nFlags; ++i) sums[i] = flat[0][flat[0].size(0) - nFlags + i].item<double>();
    }
    return sums;
  }

 private:
  // Gloo binds to an address the peers can reach: loopback for single-node runs; otherwise the
  // interface in GLOO_SOCKET_IFNAME (as in PyTorch), else the address this host's name resolves to.
  static std::shared_ptr<::gloo::transport::Device> transportDevice(const std::string& masterAddr) {
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
      return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
    if (isLoopback(masterAddr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
    return c10d::ProcessGroupGloo::createDefaultDevice();
  }

  // Consecutive tensors of one dtype and device, up to kBucketBytes each (a bigger tensor is its own).
  static std::vector<std::vector<torch::Tensor>> buckets(const std::vector<torch::Tensor>& tensors) {
    std::vector<std::vector<torch::Tensor>> out;
    int64_t bytes = 0;
    for (auto& t : tensors) {
      const int64_t size = t.numel() * static_cast<int64_t>(t.element_size());
      if (out.empty() || bytes + size > kBucketBytes || out.back()[0].dtype() != t.dtype() || out.back()[0].device() != t.device()) {
        out.emplace_back();
        bytes = 0;
      }
      out.back().push_back(t);
      bytes += size;
    }
    return out;
  }

  // Gloo works on CPU tensors here; a CUDA bucket goes through the host.
  static torch::Tensor flatten(const std::vector<torch::Tensor>& bucket) {
    std::vector<torch::Tensor> parts;
    for (auto& t : bucket) parts.push_back(t.reshape(-1));
    return torch::cat(parts).to(torch::kCPU).contiguous();
  }

  static void copyBack(const torch::Tensor& flat, const std::vector<torch::Tensor>& bucket) {
    int64_t offset = 0;
    for (auto& t : bucket) {
      const int64_t n = t.numel();
      t.copy_(flat.slice(0, offset, offset + n).view(t.sizes()));
      offset += n;
    }
  }

  template <typename Start>
  void run(const std::string& what, Start&& start) {
    if (!failure_.empty())
      throw Error(ErrorCode::Distributed, "rank " + std::to_string(options_.rank) + ": " + what +
                                              " not attempted: the process group failed earlier (" + failure_ + ")");
    try {
      distributedCall(options_.rank, what, options_.timeoutMs, [&] {
        auto work = start();
        work->wait(std::chrono::milliseconds(options_.timeoutMs));
      });
    } catch (const Error& e) {
      failure_ = e.what();
      throw;
    }
  }

  DistributedOptions options_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
  std::string failure_;  // the first collective's failure; later calls fail at once
};

}  // namespace

std::shared_ptr<ProcessGroup> connect(const DistributedOptions& options) {
  if (options.backend == "nccl")
    throw Error(ErrorCode::Device, "backend 'nccl' needs a CUDA build of kds with NCCL; this build has Gloo only (use backend 'gloo')");
  if (options.backend != "gloo") throw Error(ErrorCode::Argument, "unknown distributed backend '" + options.backend + "': expected 'gloo' or 'nccl'");
  return std::make_shared<GlooGroup>(options);
}

bool available() { return true; }

}  // namespace kds::dist
