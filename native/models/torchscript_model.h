// A model loaded from a `torch.jit.save` file. Its forward returns (List[Tensor], Tensor) -- feature
// maps and output -- or only the output Tensor (then no SA loss can use it).
#pragma once
#include <torch/script.h>

#include "models/torch_model.h"

namespace kds {

class TorchScriptModel final : public TorchModel {
 public:
  TorchScriptModel(torch::jit::Module module, bool hasFeatures, std::string path);

  std::string kind() const override { return "torchscript"; }
  bool hasFeatures() const override { return hasFeatures_; }
  std::optional<int> scale() const override { return scale_; }
  void save(const std::string& path) override;

  SrOutput run(const torch::Tensor& input) override;
  std::vector<std::pair<std::string, torch::Tensor>> namedParameters() override;
  void setTraining(bool on) override { module_.train(on); }
  void moveTo(const torch::Device& device) override;
  torch::Device torchDevice() const override { return device_; }

 protected:
  // Runs the model once on a zero image of that size and counts the multiply-adds it dispatches.
  void describeCost(int64_t height, int64_t width, ModelSummary& out) override;

 private:
  torch::jit::Module module_;
  bool hasFeatures_;
  std::string path_;
  torch::Device device_{torch::kCPU};
  std::optional<int> scale_;  // output size / input size, once known
};

}  // namespace kds
