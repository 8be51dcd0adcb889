// The core side of the functional API (api/functional.h): inputs to tensors, one forward and backward.
#include "api/functional.h"

#include <cmath>

#include "api/error.h"
#include "core/runtime.h"
#include "core/torch_tensor.h"
#include "losses/affinity.h"
#include "losses/feature_term.h"

namespace kds {
namespace {

// A fresh tensor of `dtype` that the call may mark as requiring grad without touching the caller's.
torch::Tensor toTorch(const FeatureInput& in, torch::ScalarType dtype) {
  // A copy, also for a tensor of the same dtype: a model's outputs are inference tensors, which autograd
  // may neither record nor save.
  if (in.tensor) return unwrap(*in.tensor).detach().to(dtype, /*non_blocking=*/false, /*copy=*/true);
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

FeatureLossResult featureLoss(const std::string& type, const std::vector<FeatureInput>& studentsIn,
                              const std::vector<FeatureInput>& teachersIn, const TermOptions& options, bool float64) {
  applyThreadSettings();
  const auto& term = findFeatureTerm(type);
  if (studentsIn.size() != teachersIn.size())
    throw Error(ErrorCode::Shape, type + " loss: " + std::to_string(studentsIn.size()) + " student feature maps but " +
                                      std::to_string(teachersIn.size()) + " teacher feature maps");
  const auto dtype = float64 ? torch::kFloat64 : torch::kFloat32;
  FeatureMaps maps;
  for (size_t i = 0; i < studentsIn.size(); ++i) {
    maps.students.push_back(toTorch(studentsIn[i], dtype).requires_grad_(true));
    maps.teachers.push_back(toTorch(teachersIn[i], dtype).to(maps.students.front().device()));
    maps.positions.push_back(static_cast<int>(i));
  }
  auto loss = translateTorchErrors(ErrorCode::Internal, type + " loss failed", [&] {
    torch::AutoGradMode gradMode(true);
    auto value = featureTermLoss(term, maps, options);
    if (value.requires_grad()) value.backward();
    return value.detach();
  });
  FeatureLossResult result;
  result.loss = loss.item<double>();
  if (!std::isfinite(result.loss))
    throw Error(ErrorCode::NonFinite, type + " loss is not finite (" + std::to_string(result.loss) + "): NaN or Inf in the feature maps?");
  for (auto& s : maps.students) {
    auto grad = s.grad().defined() ? s.grad() : torch::zeros_like(s);
    result.shapes.push_back(s.sizes().vec());
    if (float64) {
      auto host = grad.to(torch::kCPU, torch::kFloat64).contiguous();
      result.grads64.emplace_back(host.data_ptr<double>(), host.data_ptr<double>() + host.numel());
    } else {
      result.grads.push_back(wrap(grad));
    }
  }
  return result;
}

}  // namespace kds
