// The SA loss without N x N matrices: tiles of the affinity difference are computed, reduced and
// dropped. Same value and gradient as affinityLossPlain (up to rounding), on any device. The gradient is
// first-order only (it is computed during the forward pass; no double backward).
#pragma once
#include <torch/torch.h>

#include <vector>

namespace kds {

// Rows and columns of one tile of the affinity difference.
struct TileShape {
  int64_t rows, cols;
};

// Pixels [begin, begin + size) of the flattened map.
struct PixelRange {
  int64_t begin, size;
};

// One block of the symmetric N x N pixel-pair matrix: rows I, columns J, counted `weight` times in the sum
// over all pairs (2 for an off-diagonal block, which stands for its mirror image too).
struct TileJob {
  PixelRange I, J;
  int weight;
};

// The blocks that cover the upper triangle of an N x N symmetric matrix with tiles of at most `tiles`.
std::vector<TileJob> upperTriangleJobs(int64_t n, TileShape tiles);

// student: B x Cs x H x W (gradient flows to it), teacher: B x Ct x H x W (treated as a constant).
// tile: pixels per tile side (square tiles); 0 chooses the tile shape from the shapes and the device.
torch::Tensor affinityLossFused(const torch::Tensor& student, const torch::Tensor& teacher, double eps, int64_t tile);

// The automatic tile shape for `pixels` pixels per image. On a CPU one image's tile stays in a core's cache;
// on a GPU a tile spans the batch and is as large as a memory budget allows. Few rows per tile waste little
// on the diagonal blocks; row blocks are balanced (nearly equal sizes).
TileShape chooseAffinityTiles(int64_t batch, int64_t pixels, int64_t elementSize, const torch::Device& device);

}  // namespace kds
