// MATLAB imresize(..., 'bicubic') from its published algorithm: for every output pixel, the input
// positions and weights of a cubic kernel (a = -0.5), widened by 1/scale when shrinking (antialiasing),
// normalised to sum 1, with out-of-range positions mirrored. Each dimension is then a weighted sum of
// `taps` gathered slices of the input, which keeps memory at a few output-sized tensors.
#include <cmath>

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
  torch::Tensor indices;  // [out, taps] int64, 0-based input positions
  torch::Tensor weights;  // [out, taps] float64, each row sums to 1
};

Contributions contributions(int64_t inLength, int64_t outLength, double scale) {
  const bool shrink = scale < 1;
  const double kernelWidth = shrink ? 4.0 / scale : 4.0;
  const int64_t taps = static_cast<int64_t>(std::ceil(kernelWidth)) + 2;
  std::vector<double> weights(outLength * taps);
  std::vector<int64_t> indices(outLength * taps);
  std::vector<bool> tapUsed(taps, false);
  for (int64_t i = 0; i < outLength; ++i) {
    // Output pixel i + 1 (MATLAB counts from 1) sits at input position u.
    const double u = static_cast<double>(i + 1) / scale + 0.5 * (1 - 1 / scale);
    const int64_t left = static_cast<int64_t>(std::floor(u - kernelWidth / 2));
    double sum = 0;
    for (int64_t k = 0; k < taps; ++k) {
      const int64_t j = left + k;  // 1-based input position
      const double d = u - static_cast<double>(j);
      const double w = shrink ? scale * cubic(scale * d) : cubic(d);
      weights[i * taps + k] = w;
      sum += w;
      // Mirror into 1..in as MATLAB's aux = [1:in, in:-1:1] does; store 0-based.
      int64_t m = (j - 1) % (2 * inLength);
      if (m < 0) m += 2 * inLength;
      indices[i * taps + k] = m < inLength ? m : 2 * inLength - 1 - m;
    }
    for (int64_t k = 0; k < taps; ++k) {
      weights[i * taps + k] /= sum;
      if (weights[i * taps + k] != 0) tapUsed[k] = true;
    }
  }
  auto allWeights = torch::from_blob(weights.data(), {outLength, taps}, torch::kDouble);
  auto allIndices = torch::from_blob(indices.data(), {outLength, taps}, torch::kLong);
  // Taps that are zero for every output pixel contribute nothing (MATLAB drops them too).
  std::vector<int64_t> keep;
  for (int64_t k = 0; k < taps; ++k)
    if (tapUsed[k]) keep.push_back(k);
  auto keepIndex = torch::tensor(keep, torch::kLong);
  return {allIndices.index_select(1, keepIndex).clone(), allWeights.index_select(1, keepIndex).clone()};
}

// Resizes dimension `dim` (2: height, 3: width) of a float64 [N, C, H, W] tensor.
torch::Tensor resizeAlong(const torch::Tensor& x, int64_t dim, int64_t outLength, double scale) {
  auto c = contributions(x.size(dim), outLength, scale);
  auto indices = c.indices.to(x.device());
  auto weights = c.weights.to(x.device());
  auto shape = x.sizes().vec();
  shape[dim] = outLength;
  std::vector<int64_t> weightShape(4, 1);
  weightShape[dim] = outLength;
  auto out = torch::zeros(shape, x.options());
  for (int64_t k = 0; k < indices.size(1); ++k)
    out.addcmul_(x.index_select(dim, indices.select(1, k)), weights.select(1, k).reshape(weightShape));
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
