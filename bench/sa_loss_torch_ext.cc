// A PyTorch extension over kds's SA loss (native/losses), for bench/sa_loss_cuda.py: lets Python call the
// very C++ the addon runs, on any device PyTorch has (CUDA included), without Node.
#include <torch/extension.h>

#include <vector>

#include "losses/affinity.h"
#include "losses/affinity_fused.h"

namespace {

torch::Tensor saLoss(const torch::Tensor& student, const torch::Tensor& teacher, const std::string& impl, int64_t tile,
                     const std::string& pool, int64_t poolSize, double eps) {
  kds::AffinityOptions options{impl, eps, tile, pool, static_cast<int>(poolSize)};
  return kds::affinityLoss(student, teacher, options);
}

std::vector<int64_t> chooseTiles(int64_t batch, int64_t pixels, int64_t elementSize, const std::string& device) {
  const auto tiles = kds::chooseAffinityTiles(batch, pixels, elementSize, torch::Device(device));
  return {tiles.rows, tiles.cols};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("sa_loss", &saLoss, "kds SA loss (differentiable w.r.t. the student)");
  m.def("choose_tiles", &chooseTiles, "kds::chooseAffinityTiles: [rows, cols]");
}
