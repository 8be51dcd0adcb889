#include "core/precision.h"

#include <ATen/autocast_mode.h>
#include <ATen/cpu/Utils.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <initializer_list>

#include "api/error.h"

namespace kds {

std::optional<at::ScalarType> autocastDtype(const std::string& precision, c10::DeviceType device) {
  if (precision == "fp32") return std::nullopt;
  at::ScalarType dtype;
  if (precision == "bf16")
    dtype = at::kBFloat16;
  else if (precision == "fp16")
    dtype = at::kHalf;
  else
    throw Error(ErrorCode::Argument, "unknown precision '" + precision + "': expected 'fp32', 'bf16' or 'fp16'");
  if (!at::autocast::is_autocast_available(device))
    throw Error(ErrorCode::Device, "precision '" + precision + "' needs autocast, which LibTorch does not offer on " +
                                       c10::DeviceTypeName(device, /*lower_case=*/true) + "; use 'fp32'");
  return dtype;
}

namespace {

// Whether LibTorch's cpuinfo reports any of these CPU features (absent keys count as missing).
bool cpuHasAny(std::initializer_list<const char*> features) {
  const auto capabilities = at::cpu::get_cpu_capabilities();
  for (const char* feature : features) {
    auto it = capabilities.find(feature);
    if (it != capabilities.end() && it->second.isBool() && it->second.toBool()) return true;
  }
  return false;
}

// E_DEVICE unless the device computes in `dtype` natively.
void requireHardwareArithmetic(at::ScalarType dtype, const torch::Device& device, const std::string& precision) {
  const std::string what = "a '" + precision + "' teacher on " + device.str();
  if (device.is_cpu()) {
    const bool bf16 = dtype == at::kBFloat16;
    if (bf16 ? cpuHasAny({"avx512_bf16", "amx_bf16", "bf16"}) : cpuHasAny({"avx512_fp16", "amx_fp16", "fp16_arith"})) return;
    throw Error(ErrorCode::Device, what + " needs a CPU with " + (bf16 ? "AVX512-BF16 or AMX-BF16" : "AVX512-FP16 or AMX-FP16") +
                                       " instructions, and this one has neither (without them " + precision +
                                       " is emulated and slower than fp32); use 'fp32' or a GPU");
  }
  if (device.is_cuda() && dtype == at::kBFloat16 && !at::detail::getCUDAHooks().supportsBFloat16ConvolutionWithCuDNNv8())
    throw Error(ErrorCode::Device, what + " needs bf16 convolutions, which cuDNN offers on NVIDIA GPUs of compute capability 8.0 "
                                          "(Ampere) or newer; use 'fp16' or 'fp32' on this GPU");
}

}  // namespace

std::optional<at::ScalarType> teacherAutocastDtype(const std::string& precision, std::optional<at::ScalarType> stepDtype,
                                                   const torch::Device& device) {
  if (precision == "step") return stepDtype;
  if (precision != "fp32" && precision != "bf16" && precision != "fp16")
    throw Error(ErrorCode::Argument, "unknown teacher precision '" + precision + "': expected 'step', 'fp32', 'bf16' or 'fp16'");
  auto dtype = autocastDtype(precision, device.type());
  if (dtype) requireHardwareArithmetic(*dtype, device, precision);
  return dtype;
}

std::vector<std::string> teacherPrecisionsOn(const torch::Device& device) {
  std::vector<std::string> usable{"fp32"};
  for (const char* precision : {"bf16", "fp16"}) {
    try {
      teacherAutocastDtype(precision, std::nullopt, device);
      usable.emplace_back(precision);
    } catch (const Error&) {  // E_DEVICE: not in hardware here (or no autocast on this device type)
    }
  }
  return usable;
}

AutocastScope::AutocastScope(c10::DeviceType device, std::optional<at::ScalarType> dtype) : device_(device) {
  if (!dtype) return;
  wasEnabled_ = at::autocast::is_autocast_enabled(device);
  previousDtype_ = at::autocast::get_autocast_dtype(device);
  at::autocast::set_autocast_enabled(device, true);
  at::autocast::set_autocast_dtype(device, *dtype);
  at::autocast::increment_nesting();
  active_ = true;
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_, wasEnabled_);
  at::autocast::set_autocast_dtype(device_, previousDtype_);
}

void GradScaler::reset(const PrecisionOptions& options, const torch::Device& device) {
  options_ = options;
  scale_ = torch::full({1}, options.initScale, torch::TensorOptions().dtype(torch::kFloat).device(device));
  growthTracker_ = torch::zeros({1}, torch::TensorOptions().dtype(torch::kInt).device(device));
  foundInf_ = torch::zeros({1}, scale_.options());
}

void GradScaler::moveTo(const torch::Device& device) {
  if (!enabled()) return;
  scale_ = scale_.to(device);
  growthTracker_ = growthTracker_.to(device);
  foundInf_ = foundInf_.to(device);
}

bool GradScaler::unscale(const std::vector<torch::Tensor>& grads) {
  foundInf_.zero_();
  // The reciprocal in double, as GradScaler does, then float for the kernel.
  auto inverse = scale_.to(torch::kDouble).reciprocal().to(torch::kFloat);
  at::_amp_foreach_non_finite_check_and_unscale_(grads, foundInf_, inverse);
  return foundInf_.item<float>() != 0.0f;
}

void GradScaler::update() {
  at::_amp_update_scale_(scale_, growthTracker_, foundInf_, options_.growthFactor, options_.backoffFactor, options_.growthInterval);
}

double GradScaler::scale() const { return enabled() ? scale_.item<double>() : 1.0; }

std::vector<std::pair<std::string, torch::Tensor>> GradScaler::state() const {
  if (!enabled()) return {};
  return {{"scale", scale_.to(torch::kCPU).clone()}, {"growth_tracker", growthTracker_.to(torch::kCPU).clone()}};
}

namespace {
std::pair<torch::Tensor, torch::Tensor> scaleAndTracker(const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  torch::Tensor scale, tracker;
  for (const auto& [name, t] : state) {
    if (name == "scale") scale = t;
    if (name == "growth_tracker") tracker = t;
  }
  return {scale, tracker};
}
}  // namespace

void GradScaler::checkState(const std::vector<std::pair<std::string, torch::Tensor>>& state, const std::string& path) {
  if (state.empty()) return;
  auto [scale, tracker] = scaleAndTracker(state);
  if (!scale.defined() || !tracker.defined() || scale.numel() != 1 || tracker.numel() != 1 ||
      !(scale.to(torch::kDouble).item<double>() > 0) || tracker.to(torch::kDouble).item<double>() < 0)
    throw Error(ErrorCode::File, "checkpoint '" + path + "': bad grad_scaler state (expected a positive 'scale' and a 'growth_tracker' >= 0)");
}

void GradScaler::loadState(const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  if (!enabled() || state.empty()) return;
  auto [scale, tracker] = scaleAndTracker(state);
  scale_.copy_(scale.reshape({1}).to(torch::kFloat));
  growthTracker_.copy_(tracker.reshape({1}).to(torch::kInt));
}

}  // namespace kds
