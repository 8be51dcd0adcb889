#include "models/torch_model.h"

#include "api/error.h"
#include "core/runtime.h"
#include "core/torch_tensor.h"
#include "io/state_dict.h"

namespace kds {

std::vector<torch::Tensor> TorchModel::trainableParameters() {
  std::vector<torch::Tensor> out;
  for (auto& [name, p] : namedParameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

int64_t TorchModel::parameterCount() const {
  int64_t count = 0;
  for (auto& [name, p] : const_cast<TorchModel*>(this)->namedParameters())
    if (p.requires_grad()) count += p.numel();
  return count;
}

ForwardResult TorchModel::forward(const Tensor& input) {
  applyThreadSettings();
  std::lock_guard<std::mutex> lock(mutex_);
  const auto& x = unwrap(input);
  if (x.dim() != 4 || x.size(1) != 3 || x.size(0) < 1)
    throw Error(ErrorCode::Shape, "forward: input must have shape [n, 3, h, w] with n >= 1, got " + shapeToString(x.sizes().vec()));
  torch::InferenceMode guard;
  SrOutput out = translateTorchErrors(ErrorCode::Shape, kind() + " forward failed", [&] {
    return run(x.to(torchDevice()));
  });
  ForwardResult result;
  for (auto& f : out.features) result.features.push_back(wrap(f));
  result.output = wrap(out.output);
  return result;
}

void TorchModel::loadStateDict(const std::string& path, const LoadOptions& options) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto file = readStateDict(path);
  std::vector<std::pair<std::string, torch::Tensor>> renamed;
  renamed.reserve(file.size());
  for (auto& [key, value] : file) renamed.emplace_back(canonicalKey(key), value);
  applyStateDict(namedParameters(), renamed, options.strict, [this](const std::string& k) { return isOptionalKey(k); }, path);
}

void TorchModel::saveStateDict(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  writeStateDict(path, namedParameters());
}

TorchModel& asTorchModel(Model& model) {
  auto* m = dynamic_cast<TorchModel*>(&model);
  if (!m) throw Error(ErrorCode::Internal, "model was not created by the kds core");
  return *m;
}

}  // namespace kds
