// The core side of the functional API (api/functional.h): inputs to tensors, one forward and backward.
#include "api/functional.h"

#include <cmath>

#include "api/error.h"
#include "core/runtime.h"
#include "core/torch_tensor.h"
#include "losses/affinity.h"

namespace kds {
namespace {

// A fresh tensor of `dtype` that the call may mark as requiring grad without touching the caller's.
torch::Tensor toTorch(const FeatureInput& in, torch::ScalarType dtype) {
  if (in.tensor) return unwrap(*in.tensor).detach().to(dtype);
  auto host = torch::from_blob(const_cast<void*>(in.data), in.shape, in.isFloat64 ? torch::kFloat64 : torch::kFloat32);
  return host.to(dtype, /*non_blocking=*/false, /*copy=*/true);
}

}  // namespace

LossWithGrad spatialAffinityLoss(const FeatureInput& studentIn, const FeatureInput& teacherIn,
                                 const SpatialAffinityOptions& options) {
  applyThreadSettings();
  const auto dtype = options.float64 ? torch::kFloat64 : torch::kFloat32;
  auto student = toTorch(studentIn, dtype);
  auto teacher = toTorch(teacherIn, dtype).to(student.device());
  student.requires_grad_(true);
  const AffinityOptions affinity{options.impl, options.eps, options.tile, options.pool, options.poolSize};
  auto loss = translateTorchErrors(ErrorCode::Internal, "SA loss failed", [&] {
    torch::AutoGradMode gradMode(true);
    auto value = affinityLoss(student, teacher, affinity);
    value.backward();
    return value;
  });
  const double value = loss.item<double>();
  if (!std::isfinite(value))
    throw Error(ErrorCode::NonFinite, "SA loss is not finite (" + std::to_string(value) + "): NaN or Inf in the feature maps?");
  return {value, wrap(student.grad())};
}

}  // namespace kds
