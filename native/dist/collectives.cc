// Bucketed collectives on any c10d backend, with one latch for failures: after a collective failed, the
// ranks' sequences of collectives may no longer match, so every later call fails at once.
#include "dist/collectives.h"

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <string>
#include <utility>

#include "api/error.h"

namespace kds::dist {
namespace {

constexpr int64_t kBucketBytes = 25 << 20;  // like DistributedDataParallel's default bucket size

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

// Consecutive tensors of one dtype and device, up to kBucketBytes each (a bigger tensor is its own).
std::vector<std::vector<torch::Tensor>> buckets(const std::vector<torch::Tensor>& tensors) {
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

// One contiguous 1-d tensor on `device` holding the bucket's values, then `extra` (may be undefined).
torch::Tensor flatten(const std::vector<torch::Tensor>& bucket, const torch::Tensor& extra, torch::Device device) {
  std::vector<torch::Tensor> parts;
  for (auto& t : bucket) parts.push_back(t.reshape(-1));
  if (extra.defined()) parts.push_back(extra);
  return torch::cat(parts).to(device).contiguous();
}

void copyBack(const torch::Tensor& flat, const std::vector<torch::Tensor>& bucket) {
  int64_t offset = 0;
  for (auto& t : bucket) {
    const int64_t n = t.numel();
    t.copy_(flat.slice(0, offset, offset + n).view(t.sizes()));
    offset += n;
  }
}

class C10dGroup final : public ProcessGroup {
 public:
  C10dGroup(const DistributedOptions& options, torch::Device collectiveDevice, c10::intrusive_ptr<c10d::Store> store,
            c10::intrusive_ptr<c10d::Backend> backend)
      : options_(options), device_(collectiveDevice), store_(std::move(store)), backend_(std::move(backend)) {}

  int rank() const override { return options_.rank; }
  int worldSize() const override { return options_.worldSize; }

  void broadcastFromRoot(const std::vector<torch::Tensor>& tensors) override {
    torch::NoGradGuard noGrad;
    for (auto& bucket : buckets(tensors)) {
      std::vector<torch::Tensor> flat{flatten(bucket, {}, device_)};
      run("broadcast from rank 0", [&] { return backend_->broadcast(flat); });
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
      // The flags travel in the last bucket, in its dtype (all ranks agree on it).
      auto options = groups[b].empty() ? torch::TensorOptions(torch::kFloat) : groups[b][0].options();
      torch::Tensor flagTensor = last ? torch::tensor(flags, torch::kDouble).to(options) : torch::Tensor();
      std::vector<torch::Tensor> flat{flatten(groups[b], flagTensor, device_)};
      run("gradient all-reduce", [&] { return backend_->allreduce(flat); });
      copyBack(flat[0], groups[b]);
      if (last && nFlags > 0) {
        // One device-to-host copy for all flags.
        auto summed = flat[0].slice(0, flat[0].size(0) - nFlags).to(torch::kCPU, torch::kDouble);
        for (int64_t i = 0; i < nFlags; ++i) sums[i] = summed[i].item<double>();
      }
    }
    return sums;
  }

 private:
  template <typename Start>
  void run(const std::string& what, Start&& start) {
    if (!failure_.empty())
      throw Error(ErrorCode::Distributed, "rank " + std::to_string(options_.rank) + ": " + what +
                                              " not attempted: the process group failed earlier (" + failure_ + ")");
    try {
      distributedCall(options_.rank, what, options_.timeoutMs, [&] {
        auto work = start();
        // With a timeout, wait() blocks this thread until the collective finished or the time ran out
        // (Gloo and NCCL alike), and throws then.
        work->wait(std::chrono::milliseconds(options_.timeoutMs));
      });
    } catch (const Error& e) {
      failure_ = e.what();
      throw;
    }
  }

  DistributedOptions options_;
  torch::Device device_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::Backend> backend_;
  std::string failure_;  // the first collective's failure; later calls fail at once
};

}  // namespace

std::shared_ptr<ProcessGroup> connectC10d(const DistributedOptions& o, torch::Device collectiveDevice, const BackendFactory& makeBackend) {
  auto timeout = std::chrono::milliseconds(o.timeoutMs);
  return distributedCall(o.rank, "rendezvous at " + o.masterAddr + ":" + std::to_string(o.masterPort), o.timeoutMs, [&] {
    c10d::TCPStoreOptions storeOptions;
    storeOptions.port = static_cast<uint16_t>(o.masterPort);
    storeOptions.isServer = o.rank == 0;
    storeOptions.numWorkers = o.worldSize;
    storeOptions.waitWorkers = true;
    storeOptions.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(o.masterAddr, storeOptions);
    auto backend = makeBackend(store, timeout);
    return std::make_shared<C10dGroup>(o, collectiveDevice, std::move(store), std::move(backend));
  });
}

}  // namespace kds::dist
