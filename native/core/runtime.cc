#include "core/runtime.h"

#include <ATen/Parallel.h>
#ifdef KDS_WITH_CUDA  // defined by CMakeLists.txt for a CUDA LibTorch
// The CUDA runtime's own header: ATen/cuda/CUDAContext.h would also need the cuBLAS/cuSPARSE headers,
// which a minimal CUDA toolkit (enough for LibTorch's config) lacks.
#include <cuda_runtime_api.h>
#endif

#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <sstream>

#include "api/runtime.h"
#include "core/precision.h"
#include "dist/process_group.h"

namespace kds {
namespace {
std::atomic<int> g_threads{0};  // 0: LibTorch's default

// The LibTorch this process loaded (root of .../lib/libtorch_cpu.so): a prebuilt addon runs with the
// LibTorch of the machine it is installed on, not the one it was built against.
std::string loadedLibTorchDir() {
  Dl_info dl{};
  if (dladdr(reinterpret_cast<void*>(&at::get_num_threads), &dl) == 0 || dl.dli_fname == nullptr) return {};
  char* real = ::realpath(dl.dli_fname, nullptr);  // through the package's .torch link
  std::string file = real ? real : dl.dli_fname;
  std::free(real);
  for (int up = 0; up < 2; ++up) {
    auto slash = file.rfind('/');
    if (slash == std::string::npos) return {};
    file.resize(slash);
  }
  return file;
}
}  // namespace

void setNumThreads(int n) {
  if (n < 1) throw Error(ErrorCode::Argument, "numThreads must be a positive integer, got " + std::to_string(n));
  g_threads = n;
  at::set_num_threads(n);
}

int numThreads() {
  applyThreadSettings();
  return at::get_num_threads();
}

void applyThreadSettings() {
  const int n = g_threads.load();
  if (n > 0 && at::get_num_threads() != n) at::set_num_threads(n);
}

void manualSeed(uint64_t seed) { torch::manual_seed(seed); }

void setCudnnBenchmark(bool on) { at::globalContext().setBenchmarkCuDNN(on); }
bool cudnnBenchmark() { return at::globalContext().benchmarkCuDNN(); }

torch::Device parseDevice(const std::string& name) {
  std::optional<torch::Device> device;
  try {
    device.emplace(name);
  } catch (const std::exception&) {
    throw Error(ErrorCode::Device, "unknown device '" + name + "': expected 'cpu', 'cuda' or 'cuda:N'");
  }
  if (device->is_cpu()) return *device;
  if (device->is_cuda()) {
    if (!torch::cuda::is_available()) {
      throw Error(ErrorCode::Device, "device '" + name + "' requested, but CUDA is not available (this LibTorch " +
                                         "build has no CUDA or no GPU is visible); use 'cpu' or build against a CUDA LibTorch");
    }
    const int count = static_cast<int>(torch::cuda::device_count());
    const int index = device->has_index() ? device->index() : 0;
    if (index >= count) {
      throw Error(ErrorCode::Device, "device '" + name + "' requested, but only " + std::to_string(count) +
                                         " CUDA device(s) are visible (cuda:0..cuda:" + std::to_string(count - 1) + ")");
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error(ErrorCode::Device, "unsupported device '" + name + "': expected 'cpu', 'cuda' or 'cuda:N'");
}

std::string torchMessage(const std::exception& e) {
  if (auto* c10 = dynamic_cast<const c10::Error*>(&e)) {
    std::string msg = c10->what_without_backtrace();
    // c10 messages end with a hint about the C++ stack trace; keep the first lines only.
    auto pos = msg.find("\nException raised from");
    if (pos != std::string::npos) msg.resize(pos);
    return msg;
  }
  return e.what();
}

BuildInfo buildInfo() {
  BuildInfo info;
#ifdef KDS_TORCH_VERSION
  info.torchVersion = KDS_TORCH_VERSION;
#endif
  info.libtorchDir = loadedLibTorchDir();
#ifdef KDS_LIBTORCH_DIR
  if (info.libtorchDir.empty()) info.libtorchDir = KDS_LIBTORCH_DIR;
#endif
  info.cudaAvailable = torch::cuda::is_available();
  info.cudaDeviceCount = info.cudaAvailable ? static_cast<int>(torch::cuda::device_count()) : 0;
#ifdef KDS_WITH_CUDA
  for (int i = 0; i < info.cudaDeviceCount; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      info.cudaDevices.emplace_back("(properties unavailable)");
      continue;
    }
    info.cudaDevices.push_back(std::string(p.name) + " (" + std::to_string(p.totalGlobalMem >> 20) + " MiB, sm_" +
                               std::to_string(p.major) + std::to_string(p.minor) + ")");
  }
#endif
  info.cpuTeacherPrecisions = teacherPrecisionsOn(torch::Device(torch::kCPU));
  if (info.cudaDeviceCount > 0) info.cudaTeacherPrecisions = teacherPrecisionsOn(torch::Device(torch::kCUDA, 0));
  info.cudnnBenchmark = cudnnBenchmark();
  info.numThreads = numThreads();
  info.parallelInfo = at::get_parallel_info();
  info.gloo = dist::available();
  info.nccl = dist::ncclAvailable();
  return info;
}

}  // namespace kds
