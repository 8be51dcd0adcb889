// Training batches: crop matching LR/HR patches, apply one of the 8 symmetries, stack as float.
#include "api/data.h"
#include "core/runtime.h"
#include "core/torch_tensor.h"

namespace kds {
namespace {

torch::Tensor transformed(torch::Tensor patch, int transform) {
  if (transform & 1) patch = patch.flip({-1});
  if (transform & 2) patch = patch.flip({-2});
  if (transform & 4) patch = patch.transpose(-2, -1);
  return patch;
}

const torch::Tensor& byteImage(const TensorPtr& image, const char* role, size_t index) {
  if (!image) throw Error(ErrorCode::Argument, std::string("assembleBatch: ") + role + " image " + std::to_string(index) + " is missing");
  const auto& t = unwrap(*image);
  if (t.dim() != 4 || t.size(0) != 1 || t.size(1) != 3 || t.scalar_type() != torch::kByte)
    throw Error(ErrorCode::Shape, std::string("assembleBatch: ") + role + " image " + std::to_string(index) +
                                      " must be an 8-bit image [1, 3, h, w], got " + shapeToString(t.sizes().vec()));
  return t;
}

}  // namespace

PatchBatch assembleBatch(const std::vector<TensorPtr>& lr, const std::vector<TensorPtr>& hr,
                         const std::vector<PatchSpec>& patches, int64_t patchSize, int64_t scale) {
  applyThreadSettings();
  torch::NoGradGuard noGrad;
  if (lr.size() != hr.size()) throw Error(ErrorCode::Argument, "assembleBatch: as many LR as HR images are needed");
  if (patchSize < 1 || scale < 1) throw Error(ErrorCode::Argument, "assembleBatch: patchSize and scale must be positive");
  if (patches.empty()) throw Error(ErrorCode::Argument, "assembleBatch: no patches requested");
  const int64_t n = static_cast<int64_t>(patches.size()), hrSize = patchSize * scale;
  auto lrOut = torch::empty({n, 3, patchSize, patchSize}, torch::kFloat32);
  auto hrOut = torch::empty({n, 3, hrSize, hrSize}, torch::kFloat32);
  for (int64_t b = 0; b < n; ++b) {
    const auto& p = patches[b];
    if (p.image < 0 || p.image >= static_cast<int64_t>(lr.size()))
      throw Error(ErrorCode::Argument, "assembleBatch: patch " + std::to_string(b) + " names image " + std::to_string(p.image) +
                                           " of " + std::to_string(lr.size()));
    if (p.transform < 0 || p.transform > 7) throw Error(ErrorCode::Argument, "assembleBatch: transform must be 0..7");
    const auto& lrImage = byteImage(lr[p.image], "LR", p.image);
    const auto& hrImage = byteImage(hr[p.image], "HR", p.image);
    if (hrImage.size(2) != lrImage.size(2) * scale || hrImage.size(3) != lrImage.size(3) * scale)
      throw Error(ErrorCode::Shape, "assembleBatch: HR image " + std::to_string(p.image) + " " + shapeToString(hrImage.sizes().vec()) +
                                        " is not " + std::to_string(scale) + " x its LR image " + shapeToString(lrImage.sizes().vec()));
    if (p.top < 0 || p.left < 0 || p.top + patchSize > lrImage.size(2) || p.left + patchSize > lrImage.size(3))
      throw Error(ErrorCode::Shape, "assembleBatch: a " + std::to_string(patchSize) + " x " + std::to_string(patchSize) + " patch at (" +
                                        std::to_string(p.top) + ", " + std::to_string(p.left) + ") does not fit LR image " +
                                        std::to_string(p.image) + " " + shapeToString(lrImage.sizes().vec()));
    auto lrPatch = lrImage[0].narrow(1, p.top, patchSize).narrow(2, p.left, patchSize);
    auto hrPatch = hrImage[0].narrow(1, p.top * scale, hrSize).narrow(2, p.left * scale, hrSize);
    lrOut[b].copy_(transformed(lrPatch, p.transform));
    hrOut[b].copy_(transformed(hrPatch, p.transform));
  }
  return {wrap(lrOut), wrap(hrOut)};
}

}  // namespace kds
