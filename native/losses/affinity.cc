#include "losses/affinity.h"

#include "api/error.h"
#include "api/tensor.h"
#include "losses/affinity_fused.h"
#include "losses/term_util.h"

namespace kds {

torch::Tensor normalizedPixels(const torch::Tensor& features, double eps) {
  auto flat = features.flatten(2);                       // B x C x N
  auto norm = flat.norm(2, /*dim=*/1, /*keepdim=*/true);  // B x 1 x N
  return flat / (norm + eps);
}

torch::Tensor affinityLossPlain(const torch::Tensor& student, const torch::Tensor& teacher, double eps) {
  auto s = normalizedPixels(student, eps);
  auto t = normalizedPixels(teacher, eps);
  auto as = torch::bmm(s.transpose(1, 2), s);  // B x N x N
  auto at = torch::bmm(t.transpose(1, 2), t);
  return (as - at).abs().mean();
}

namespace {

torch::Tensor pool(const torch::Tensor& f, const AffinityOptions& o) {
  return o.pool == "none" ? f : poolFeatures(f, o.pool, o.poolSize);  // ceil rounding, as FAKD's PSA
}

}  // namespace

torch::Tensor affinityLoss(const torch::Tensor& student, const torch::Tensor& teacher, const AffinityOptions& options) {
  if (student.dim() != 4 || teacher.dim() != 4)
    throw Error(ErrorCode::Shape, "SA loss: feature maps must be 4-D (B x C x H x W), got student " +
                                      shapeToString(student.sizes().vec()) + " and teacher " + shapeToString(teacher.sizes().vec()));
  if (student.size(0) != teacher.size(0) || student.size(2) != teacher.size(2) || student.size(3) != teacher.size(3))
    throw Error(ErrorCode::Shape, "SA loss: student feature map " + shapeToString(student.sizes().vec()) +
                                      " and teacher feature map " + shapeToString(teacher.sizes().vec()) +
                                      " must have the same batch and spatial size (H x W); channels may differ");
  if (student.numel() == 0 || teacher.numel() == 0)
    throw Error(ErrorCode::Shape, "SA loss: feature maps must not be empty, got student " + shapeToString(student.sizes().vec()) +
                                      " and teacher " + shapeToString(teacher.sizes().vec()));
  if (options.impl != "fused" && options.impl != "plain")
    throw Error(ErrorCode::Argument, "SA loss: impl must be 'fused' or 'plain', got '" + options.impl + "'");
  if (options.pool != "none" && options.pool != "max" && options.pool != "avg")
    throw Error(ErrorCode::Argument, "SA loss: pool must be 'none', 'max' or 'avg', got '" + options.pool + "'");
  if (options.pool != "none" && (options.poolSize < 1 || options.poolSize > student.size(2) || options.poolSize > student.size(3)))
    throw Error(ErrorCode::Argument, "SA loss: poolSize must be between 1 and the feature map's height and width (" +
                                         std::to_string(student.size(2)) + " x " + std::to_string(student.size(3)) + "), got " +
                                         std::to_string(options.poolSize));
  auto s = pool(student, options);
  auto t = pool(teacher, options);
  if (options.impl == "plain") return affinityLossPlain(s, t, options.eps);
  return affinityLossFused(s, t, options.eps, options.tile);
}

}  // namespace kds
