// What the feature terms share: option readers that check values, FAKD's pooling, the per-position sum,
// and the tiled sweep over pixel pairs that keeps the N x N terms (RBF, MMD) from materialising N x N.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>

#include "losses/affinity_fused.h"
#include "losses/feature_term.h"

namespace kds {

// Option readers: E_ARG "<term>: <option> must be ..., got ..." for a bad value.
std::string implOption(const TermOptions& o, const std::string& term);           // 'fused' | 'plain'
std::string poolOption(const TermOptions& o, const std::string& term);           // 'max' | 'avg'
double nonNegativeOption(const TermOptions& o, const std::string& key, const std::string& term);
int64_t intOption(const TermOptions& o, const std::string& key, const std::string& term, int64_t min);
// poolSize, at least 1 and at most every selected map's height and width.
int64_t poolSizeOption(const TermOptions& o, const std::string& term, const FeatureMaps& maps);

// FAKD's pooling: window = stride = k, no padding, ceil rounding (a partial window at the right and bottom
// border is kept; an average divides by the pixels inside the map), as nn.MaxPool2d / nn.AvgPool2d with
// ceil_mode=True. k = 1 returns f.
torch::Tensor poolFeatures(const torch::Tensor& f, const std::string& pool, int64_t k);

// F.normalize(x, dim=1) of B x C x N: each pixel divided by max(|x|, 1e-12).
torch::Tensor unitPixels(const torch::Tensor& flat);

// sum over i of fn(students[i], teachers[i]).
torch::Tensor sumOverPositions(const FeatureMaps& maps, const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& fn);

// mean |a - b|: FAKD's nn.L1Loss between two transforms.
torch::Tensor meanL1(const torch::Tensor& a, const torch::Tensor& b);

// A loss whose gradient was computed during the forward pass: returns `loss` (0-dim) such that backward
// gives `input` the gradient `grad` times the incoming gradient. `grad` undefined: no gradient.
torch::Tensor withGradient(const torch::Tensor& input, const torch::Tensor& loss, const torch::Tensor& grad);

// One tile of a pairwise sweep over the pixel pairs of `chunk` images [chunk.begin, chunk.begin + size):
// rows I, columns J; offDiagonal tiles stand for themselves and their mirror image. Returns sum |D| over
// the tile (0-dim, any dtype) and adds the tile's gradient contributions itself.
using PairTile = std::function<torch::Tensor(PixelRange images, PixelRange I, PixelRange J, bool offDiagonal)>;

// Sweeps the upper triangle of the symmetric B x N x N difference D tile by tile: on a CPU one image at a
// time (tiles sized for a core's cache), elsewhere the whole batch per tile. Returns sum over all B * N * N
// entries of |D| (0-dim double, on the device).
torch::Tensor sweepPixelPairs(int64_t batch, int64_t pixels, int64_t elementSize, const torch::Device& device, int64_t tile,
                              const PairTile& fn);

}  // namespace kds
