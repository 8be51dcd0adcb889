// The TorchModel of an architecture built here as a torch::nn::Module (EDSR, RCAN, SAN). `Net` is a
// module holder whose impl offers options() (with scale), forward(x) -> SrOutput, multiplyAdds(h, w) and
// featureShapes(h, w). Parameters carry the reference state-dict names, so files load and save as they are.
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/torch_model.h"

namespace kds {

template <typename Net>
class ModuleModel : public TorchModel {
 public:
  explicit ModuleModel(Net net) : net_(std::move(net)) {}

  bool hasFeatures() const override { return true; }
  std::optional<int> scale() const override { return net_->options().scale; }
  // A state dict, the format every reference implementation loads.
  void save(const std::string& path) override { saveStateDict(path); }

  SrOutput run(const torch::Tensor& input) override { return net_->forward(input); }
  std::vector<std::pair<std::string, torch::Tensor>> namedParameters() override {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& item : net_->named_parameters(true)) out.emplace_back(item.key(), item.value());
    return out;
  }
  void setTraining(bool on) override { net_->train(on); }
  void moveTo(const torch::Device& device) override { net_->to(device); }
  torch::Device torchDevice() const override { return net_->parameters().front().device(); }

 protected:
  // The mean shifts are constants that some files omit; when a file has them, its values are used.
  bool isOptionalKey(const std::string& key) const override {
    return key.rfind("sub_mean.", 0) == 0 || key.rfind("add_mean.", 0) == 0;
  }
  void describeCost(int64_t height, int64_t width, ModelSummary& out) override {
    const int64_t s = net_->options().scale;
    out.multiplyAdds = net_->multiplyAdds(height, width);
    out.outputShape = {3, s * height, s * width};
    out.featureShapes = net_->featureShapes(height, width);
  }

  Net net_;
};

// "body1.3.body.0.weight" with prefix "body1." gives {3, "body.0.weight"}; nothing when the key is not
// the prefix, a decimal index, a dot and a rest.
inline std::optional<std::pair<int, std::string>> indexedKey(const std::string& key, const std::string& prefix) {
  if (key.rfind(prefix, 0) != 0) return std::nullopt;
  size_t pos = prefix.size(), end = pos;
  while (end < key.size() && end - pos < 9 && key[end] >= '0' && key[end] <= '9') ++end;
  if (end == pos || end >= key.size() || key[end] != '.') return std::nullopt;
  return std::make_pair(std::stoi(key.substr(pos, end - pos)), key.substr(end + 1));
}

}  // namespace kds
