#include "losses/term_util.h"

#include <algorithm>
#include <cmath>

#include "api/error.h"

namespace kds {
namespace {

[[noreturn]] void badOption(const std::string& term, const std::string& key, const std::string& expected, const std::string& got) {
  throw Error(ErrorCode::Argument, term + ": option " + key + " must be " + expected + ", got " + got);
}

std::string number(double v) {
  std::string s = std::to_string(v);
  if (std::floor(v) == v && std::abs(v) < 1e15) s = std::to_string(static_cast<int64_t>(v));
  return s;
}

std::string choice(const TermOptions& o, const std::string& key, const std::string& term, const std::string& a, const std::string& b) {
  const auto& v = o.text(key);
  if (v != a && v != b) badOption(term, key, "'" + a + "' or '" + b + "'", "'" + v + "'");
  return v;
}

}  // namespace

std::string implOption(const TermOptions& o, const std::string& term) { return choice(o, "impl", term, "fused", "plain"); }
std::string poolOption(const TermOptions& o, const std::string& term) { return choice(o, "pool", term, "max", "avg"); }

double nonNegativeOption(const TermOptions& o, const std::string& key, const std::string& term) {
  const double v = o.number(key);
  if (!std::isfinite(v) || v < 0) badOption(term, key, "a finite number >= 0", number(v));
  return v;
}

int64_t intOption(const TermOptions& o, const std::string& key, const std::string& term, int64_t min) {
  const double v = o.number(key);
  if (!std::isfinite(v) || std::floor(v) != v || v < static_cast<double>(min) || v > 1e9)
    badOption(term, key, "an integer >= " + std::to_string(min), number(v));
  return static_cast<int64_t>(v);
}

int64_t poolSizeOption(const TermOptions& o, const std::string& term, const FeatureMaps& maps) {
  const int64_t k = intOption(o, "poolSize", term, 1);
  for (size_t i = 0; i < maps.students.size(); ++i) {
    const auto& f = maps.students[i];
    if (k > f.size(2) || k > f.size(3))
      throw Error(ErrorCode::Argument, term + ": poolSize " + std::to_string(k) + " is larger than the feature map at position " +
                                           std::to_string(maps.positions[i]) + " (" + std::to_string(f.size(2)) + " x " +
                                           std::to_string(f.size(3)) + ")");
  }
  return k;
}

torch::Tensor poolFeatures(const torch::Tensor& f, const std::string& pool, int64_t k) {
  if (k == 1) return f;
  if (pool == "max") return torch::max_pool2d(f, {k, k}, {k, k}, {0, 0}, {1, 1}, /*ceil_mode=*/true);
  // Without padding, torch's ceil-mode average divides a border window by its pixels inside the map,
  // whatever count_include_pad says: FAKD's nn.AvgPool2d(k, k, 0, ceil_mode=True).
  return torch::avg_pool2d(f, {k, k}, {k, k}, {0, 0}, /*ceil_mode=*/true, /*count_include_pad=*/true);
}

torch::Tensor unitPixels(const torch::Tensor& flat) {
  return flat / flat.norm(2, /*dim=*/1, /*keepdim=*/true).clamp_min(1e-12);
}

torch::Tensor sumOverPositions(const FeatureMaps& maps, const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& fn) {
  torch::Tensor sum;
  for (size_t i = 0; i < maps.students.size(); ++i) {
    auto part = fn(maps.students[i], maps.teachers[i]);
    sum = sum.defined() ? sum + part : part;
  }
  return sum;
}

torch::Tensor meanL1(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().mean(); }

namespace {

// Returns a precomputed loss value; backward hands the precomputed gradient to the input.
struct PrecomputedGradient : public torch::autograd::Function<PrecomputedGradient> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input, const torch::Tensor& loss,
                               const torch::Tensor& grad) {
    (void)input;  // an input only so that autograd links the loss to it
    ctx->saved_data["grad"] = grad;
    return loss.clone();
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list gradOutputs) {
    return {ctx->saved_data["grad"].toTensor() * gradOutputs[0], torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor withGradient(const torch::Tensor& input, const torch::Tensor& loss, const torch::Tensor& grad) {
  if (!grad.defined()) return loss;
  return PrecomputedGradient::apply(input, loss.detach(), grad);
}

torch::Tensor sweepPixelPairs(int64_t batch, int64_t pixels, int64_t elementSize, const torch::Device& device, int64_t tile,
                              const PairTile& fn) {
  const int64_t chunk = device.is_cpu() ? 1 : batch;
  TileShape tiles{tile, tile};
  if (tile <= 0) tiles = chooseAffinityTiles(chunk, pixels, elementSize, device);
  tiles.rows = std::clamp<int64_t>(tiles.rows, 1, pixels);
  tiles.cols = std::clamp<int64_t>(tiles.cols, 1, pixels);
  const auto jobs = upperTriangleJobs(pixels, tiles);
  auto total = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device));
  for (int64_t b = 0; b < batch; b += chunk) {
    const PixelRange images{b, std::min(chunk, batch - b)};
    for (const TileJob& job : jobs) total.add_(fn(images, job.I, job.J, job.weight == 2).to(torch::kDouble), job.weight);
  }
  return total;
}

}  // namespace kds
