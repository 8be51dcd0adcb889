// Process-wide settings of the LibTorch runtime.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kds {

struct BuildInfo {
  std::string torchVersion;
  std::string libtorchDir;
  bool cudaAvailable = false;
  int cudaDeviceCount = 0;
  std::vector<std::string> cudaDevices;  // "name (memory, sm_XY)" per device; empty in a CPU build
  // setTeacherPrecision values a teacher runs with on the CPU, and on cuda:0 (empty without CUDA).
  std::vector<std::string> cpuTeacherPrecisions, cudaTeacherPrecisions;
  bool cudnnBenchmark = false;
  int numThreads = 0;
  std::string parallelInfo;
  bool gloo = false;  // built with c10d's Gloo backend (setDistributed with backend 'gloo')
  bool nccl = false;  // a CUDA build with c10d's NCCL backend (backend 'nccl')
};

// Intra-op threads for every call made after this, on any thread (OpenMP keeps the count per thread,
// so each core entry point applies it: see applyThreadSettings in core/runtime.h).
void setNumThreads(int n);
int numThreads();
void manualSeed(uint64_t seed);
// cuDNN autotuning (torch.backends.cudnn.benchmark): convolutions time their algorithms on the first
// call of each shape and keep the fastest. Process-wide; off by default; no effect without cuDNN.
void setCudnnBenchmark(bool on);
bool cudnnBenchmark();
BuildInfo buildInfo();

}  // namespace kds
