#include "models/torch_model.h"

#include <map>

#include "api/error.h"
#include "api/model_tensors.h"
#include "core/runtime.h"
#include "core/torch_tensor.h"
#include "io/state_dict.h"
#include "models/blocks.h"

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
  auto own = namedParameters();
  checkUpsamplerScale(own, renamed, path);
  applyStateDict(own, renamed, options.strict, [this](const std::string& k) { return isOptionalKey(k); }, path);
}

// A file made for another scale differs only in its upsampler (x2 and x4 even share tail.0.0's shape), so a
// non-strict load would silently keep a wrong tail: refuse it whatever `strict` says, and say which scale
// the file was made for.
void TorchModel::checkUpsamplerScale(const NamedTensors& own, const NamedTensors& file, const std::string& path) const {
  const auto modelScale = scale();
  const auto fileScale = upsamplerScaleOf(file);
  if (!modelScale || !fileScale || *modelScale == *fileScale || !upsamplerScaleOf(own)) return;
  std::map<std::string, torch::Tensor> ownTail, fileTail;
  for (const auto& [k, v] : own)
    if (k.rfind("tail.0.", 0) == 0) ownTail[k] = v;
  for (const auto& [k, v] : file)
    if (k.rfind("tail.0.", 0) == 0) fileTail[k] = v;
  std::string keys;
  for (const auto& [k, v] : fileTail) {
    auto it = ownTail.find(k);
    if (it == ownTail.end()) keys += "\n  " + k + " (file " + shapeToString(v.sizes().vec()) + ", not in this model)";
    else if (!it->second.sizes().equals(v.sizes()))
      keys += "\n  " + k + " (file " + shapeToString(v.sizes().vec()) + ", model " + shapeToString(it->second.sizes().vec()) + ")";
  }
  for (const auto& [k, v] : ownTail)
    if (!fileTail.count(k)) keys += "\n  " + k + " (model " + shapeToString(v.sizes().vec()) + ", missing from the file)";
  throw Error(ErrorCode::File, "state dict '" + path + "' was saved for scale x" + std::to_string(*fileScale) + ", but this " + kind() +
                                   " model is x" + std::to_string(*modelScale) + "; its upsampler keys differ:" + keys +
                                   "\n  (create the model with scale " + std::to_string(*fileScale) + ", or use a x" +
                                   std::to_string(*modelScale) + " checkpoint)");
}

ModelSummary TorchModel::summary(int64_t height, int64_t width) {
  if (height < 1 || width < 1)
    throw Error(ErrorCode::Argument, "summary: height and width must be >= 1, got " + std::to_string(height) + " x " + std::to_string(width));
  applyThreadSettings();
  std::lock_guard<std::mutex> lock(mutex_);
  ModelSummary out;
  for (auto& [name, p] : namedParameters()) (p.requires_grad() ? out.parameters : out.frozenParameters) += p.numel();
  describeCost(height, width, out);
  return out;
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

std::vector<NamedTensor> namedTensors(Model& model) {
  auto& m = asTorchModel(model);
  std::lock_guard<std::mutex> lock(m.mutex());
  std::vector<NamedTensor> out;
  for (auto& [name, p] : m.namedParameters())
    out.push_back({name, wrap(p.detach().to(torch::kCPU, torch::kFloat32, /*non_blocking=*/false, /*copy=*/true).contiguous())});
  return out;
}

}  // namespace kds
