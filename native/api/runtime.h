// Process-wide settings of the LibTorch runtime.
#pragma once
#include <cstdint>
#include <string>

namespace kds {

struct BuildInfo {
  std::string torchVersion;
  std::string libtorchDir;
  bool cudaAvailable = false;
  int cudaDeviceCount = 0;
  int numThreads = 0;
  std::string parallelInfo;
  bool distributed = false;  // built with c10d/Gloo (kds.setDistributed works)
};

// Intra-op threads for every call made after this, on any thread (OpenMP keeps the count per thread,
// so each core entry point applies it: see applyThreadSettings in core/runtime.h).
void setNumThreads(int n);
int numThreads();
void manualSeed(uint64_t seed);
BuildInfo buildInfo();

}  // namespace kds
