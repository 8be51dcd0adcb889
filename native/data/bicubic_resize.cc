// MATLAB imresize(..., 'bicubic') from its published algorithm: for every output pixel, the input
// positions and weights of a cubic kernel (a = -0.5), widened by 1/scale when shrinking (antialiasing),
// normalised to sum 1, with out-of-range positions mirrored. Each dimension is then a weighted sum, tap
// by tap, of strided views of the border-mirrored input (integer factors are periodic: shrinking by s
// reads every s-th row, enlarging by s has s phases), which keeps memory at a few output-sized tensors.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "api/data.h"
#include "core/runtime.h"
#include "core/torch_tensor.h"
#include "data/image_tensor.h"

namespace kds {
namespace {

double cubic(double x) {
  const double a = std::abs(x), a2 = a * a, a3 = a2 * a;
  if (a <= 1) return 1.5 * a3 - 2.5 * a2 + 1;
  if (a <= 2) return -0.5 * a3 + 2.5 * a2 - 4 * a + 2;
  return 0;
}

struct Contributions {
  std::vector<int64_t> left;  // per output pixel: 0-based input position of tap 0, before mirroring
  std::vector<int64_t> taps;  // offsets from `left` of the taps that weigh something for some output
  torch::Tensor weights;      // [out, taps] float64, each row sums to 1
};

Contributions contributions(int64_t outLength, double scale) {
  const bool shrink = scale < 1;
  const double kernelWidth = shrink ? 4.0 / scale : 4.0;
  const int64_t taps = static_cast<int64_t>(std::ceil(kernelWidth)) + 2;
  std::vector<double> weights(outLength * taps);
  std::vector<int64_t> left(outLength);
  std::vector<bool> tapUsed(taps, false);
  for (int64_t i = 0; i < outLength; ++i) {
    // Output pixel i + 1 (MATLAB counts from 1) sits at input position u.
    const double u = static_cast<double>(i + 1) / scale + 0.5 * (1 - 1 / scale);
    const int64_t first = static_cast<int64_t>(std::floor(u - kernelWidth / 2));  // 1-based
    left[i] = first - 1;
    double sum = 0;
    for (int64_t k = 0; k < taps; ++k) {
      const double d = u - static_cast<double>(first + k);
      const double w = shrink ? scale * cubic(scale * d) : cubic(d);
      weights[i * taps + k] = w;
      sum += w;
    }
    for (int64_t k = 0; k < taps; ++k) {
      weights[i * taps + k] /= sum;
      if (weights[i * taps + k] != 0) tapUsed[k] = true;
    }
  }
  // Taps that are zero for every output pixel contribute nothing (MATLAB drops them too).
  Contributions c;
  c.left = std::move(left);
  for (int64_t k = 0; k < taps; ++k)
    if (tapUsed[k]) c.taps.push_back(k);
  auto all = torch::from_blob(weights.data(), {outLength, taps}, torch::kDouble);
  c.weights = all.index_select(1, torch::tensor(c.taps, torch::kLong));
  return c;
}

// Position j (0-based, any integer) mirrored into 0..n-1 as MATLAB's aux = [1:n, n:-1:1] does.
int64_t mirror(int64_t j, int64_t n) {
  int64_t m = j % (2 * n);
  if (m < 0) m += 2 * n;
  return m < n ? m : 2 * n - 1 - m;
}

// The smallest p such that output i + p reads the input `step` rows after output i, for every i: p = 1,
// step = s when shrinking by an integer s; p = s, step = 1 when enlarging by s. 0 when there is none.
std::pair<int64_t, int64_t> findPeriod(const std::vector<int64_t>& left) {
  const int64_t n = static_cast<int64_t>(left.size());
  for (int64_t p = 1; p <= std::min<int64_t>(n - 1, 64); ++p) {
    const int64_t step = left[p] - left[0];
    bool periodic = step >= 1;
    for (int64_t i = 0; periodic && i + p < n; ++i) periodic = left[i + p] - left[i] == step;
    if (periodic) return {p, step};
  }
  return {0, 0};
}

// Resizes dimension `dim` (2: height, 3: width) of a float64 [N, C, H, W] tensor.
torch::Tensor resizeAlong(const torch::Tensor& x, int64_t dim, int64_t outLength, double scale) {
  const int64_t inLength = x.size(dim);
  auto c = contributions(outLength, scale);
  auto weights = c.weights.to(x.device());
  // Mirror the borders once: row r of `padded` is input row mirror(lo + r).
  const auto [minLeft, maxLeft] = std::minmax_element(c.left.begin(), c.left.end());
  const int64_t lo = *minLeft + c.taps.front(), hi = *maxLeft + c.taps.back();
  std::vector<int64_t> rows(hi - lo + 1);
  for (int64_t r = 0; r < hi - lo + 1; ++r) rows[r] = mirror(lo + r, inLength);
  auto padded = x.index_select(dim, torch::tensor(rows, torch::TensorOptions().dtype(torch::kLong).device(x.device())));
  auto shape = x.sizes().vec();
  shape[dim] = outLength;
  auto out = torch::zeros(shape, x.options());
  auto along = [dim](torch::Tensor column) {  // weights of one tap, shaped to broadcast along `dim`
    std::vector<int64_t> s(4, 1);
    s[dim] = column.size(0);
    return column.reshape(s);
  };
  const auto [period, step] = findPeriod(c.left);
  if (period == 0) {
    // No regular structure (a non-integer factor): gather the rows of each tap.
    std::vector<int64_t> tapRows(outLength);
    for (size_t k = 0; k < c.taps.size(); ++k) {
      for (int64_t i = 0; i < outLength; ++i) tapRows[i] = c.left[i] + c.taps[k] - lo;
      auto index = torch::tensor(tapRows, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
      out.addcmul_(padded.index_select(dim, index), along(weights.select(1, k)));
    }
    return out;
  }
  // Outputs r, r + period, r + 2 period, ... read rows `step` apart: strided views, no gathering.
  for (int64_t r = 0; r < std::min(period, outLength); ++r) {
    const int64_t count = (outLength - r + period - 1) / period;
    auto target = out.slice(dim, r, outLength, period);
    auto phaseWeights = weights.slice(0, r, outLength, period);
    for (size_t k = 0; k < c.taps.size(); ++k) {
      const int64_t start = c.left[r] + c.taps[k] - lo;
      target.addcmul_(padded.slice(dim, start, start + (count - 1) * step + 1, step), along(phaseWeights.select(1, k)));
    }
  }
  return out;
}

}  // namespace

TensorPtr resizeBicubic(const Tensor& image, int64_t outHeight, int64_t outWidth, double scaleH, double scaleW, bool round) {
  applyThreadSettings();
  torch::NoGradGuard noGrad;
  if (outHeight < 1 || outWidth < 1)
    throw Error(ErrorCode::Argument, "resize: output size must be at least 1 x 1, got " + std::to_string(outHeight) + " x " + std::to_string(outWidth));
  if (!(scaleH > 0) || !(scaleW > 0) || !std::isfinite(scaleH) || !std::isfinite(scaleW))
    throw Error(ErrorCode::Argument, "resize: scale factors must be positive and finite");
  const auto x = imageBatch(unwrap(image), "resize: image");
  return translateTorchErrors(ErrorCode::Internal, "resize", [&] {
    auto work = x.to(torch::kDouble);
    // MATLAB resizes the dimension with the smaller factor first; height first on ties.
    if (scaleW < scaleH) {
      work = resizeAlong(work, 3, outWidth, scaleW);
      work = resizeAlong(work, 2, outHeight, scaleH);
    } else {
      work = resizeAlong(work, 2, outHeight, scaleH);
      work = resizeAlong(work, 3, outWidth, scaleW);
    }
    if (x.scalar_type() == torch::kByte) return wrap(roundToByteRange(work).to(torch::kByte));
    return wrap((round ? roundToByteRange(work) : work).to(x.scalar_type()));
  });
}

}  // namespace kds
