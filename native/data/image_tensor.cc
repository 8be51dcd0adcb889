#include "data/image_tensor.h"

namespace kds {

torch::Tensor imageBatch(const torch::Tensor& t, const std::string& what) {
  const bool rankOk = t.dim() == 4 || t.dim() == 3;
  const int64_t channelDim = t.dim() - 3;
  if (!rankOk || t.size(channelDim) != 3 || t.size(-1) < 1 || t.size(-2) < 1 || (t.dim() == 4 && t.size(0) < 1))
    throw Error(ErrorCode::Shape, what + " must have shape [n, 3, h, w] or [3, h, w] (RGB), got " + shapeToString(t.sizes().vec()));
  checkImageDtype(t, what);
  return t.dim() == 3 ? t.unsqueeze(0) : t;
}

torch::Tensor singleImage(const torch::Tensor& t, const std::string& what) {
  auto batch = imageBatch(t, what);
  if (batch.size(0) != 1)
    throw Error(ErrorCode::Shape, what + " must be one image ([1, 3, h, w] or [3, h, w]), got a batch of " +
                                      std::to_string(batch.size(0)) + ": pass its images one at a time");
  return batch;
}

void checkImageDtype(const torch::Tensor& t, const std::string& what) {
  if (t.scalar_type() != torch::kByte && !t.is_floating_point())
    throw Error(ErrorCode::Argument, what + " must hold uint8 or floating point values, got " + std::string(c10::toString(t.scalar_type())));
}

// In float64: in float32, x + 0.5 can round up across an integer (0.49999997 + 0.5 == 1.0f).
torch::Tensor roundToByteRange(const torch::Tensor& t) { return (t.to(torch::kDouble).clamp(0, 255) + 0.5).floor_(); }

}  // namespace kds
