// Between decoded pixels (interleaved H x W x C bytes) and image tensors (planar [1, 3, H, W]).
#include <cstring>

#include "api/data.h"
#include "core/runtime.h"
#include "core/torch_tensor.h"
#include "data/image_tensor.h"

namespace kds {

TensorPtr imageFromPixels(const uint8_t* pixels, int64_t height, int64_t width, int channels, const std::string& name,
                          int64_t cropHeight, int64_t cropWidth) {
  applyThreadSettings();
  torch::NoGradGuard noGrad;
  if (height < 1 || width < 1)
    throw Error(ErrorCode::Shape, name + ": image is empty (" + std::to_string(height) + " x " + std::to_string(width) + ")");
  if (channels < 1 || channels > 4)
    throw Error(ErrorCode::Shape, name + ": expected 1 to 4 channels (gray, gray + alpha, RGB, RGBA), got " + std::to_string(channels));
  if (cropHeight < 0 || cropWidth < 0 || cropHeight > height || cropWidth > width)
    throw Error(ErrorCode::Shape, name + ": cannot crop " + std::to_string(height) + " x " + std::to_string(width) + " pixels to " +
                                      std::to_string(cropHeight) + " x " + std::to_string(cropWidth));
  // The decoder's buffer belongs to JavaScript: view it, then copy what we keep.
  auto hwc = torch::from_blob(const_cast<uint8_t*>(pixels), {height, width, channels}, torch::kByte);
  if (cropHeight > 0) hwc = hwc.narrow(0, 0, cropHeight);
  if (cropWidth > 0) hwc = hwc.narrow(1, 0, cropWidth);
  const bool hasAlpha = channels == 2 || channels == 4;
  if (hasAlpha) {
    auto alpha = hwc.select(2, channels - 1);
    const int64_t transparent = alpha.lt(255).sum().item<int64_t>();
    if (transparent > 0)
      throw Error(ErrorCode::Shape, name + ": has " + std::to_string(transparent) +
                                        " transparent pixel(s); kds works on opaque RGB images. Flatten it onto a background first " +
                                        "(for example sharp(file).flatten({ background: '#000' }))");
  }
  auto colour = hwc.narrow(2, 0, channels >= 3 ? 3 : 1);
  if (channels < 3) colour = colour.expand({colour.size(0), colour.size(1), 3});
  return wrap(colour.permute({2, 0, 1}).unsqueeze(0).contiguous());
}

Pixels imageToPixels(const Tensor& image) {
  applyThreadSettings();
  torch::NoGradGuard noGrad;
  auto x = singleImage(unwrap(image), "image").to(torch::kCPU);
  auto bytes = x.scalar_type() == torch::kByte ? x : roundToByteRange(x).to(torch::kByte);
  auto hwc = bytes[0].permute({1, 2, 0}).contiguous();
  Pixels out;
  out.height = hwc.size(0);
  out.width = hwc.size(1);
  out.data.resize(static_cast<size_t>(hwc.numel()));
  std::memcpy(out.data.data(), hwc.data_ptr<uint8_t>(), out.data.size());
  return out;
}

TensorPtr imageToFloat(const Tensor& image) {
  applyThreadSettings();
  torch::NoGradGuard noGrad;
  auto x = imageBatch(unwrap(image), "image");
  return wrap(x.to(torch::kCPU, torch::kFloat32).contiguous());
}

}  // namespace kds
