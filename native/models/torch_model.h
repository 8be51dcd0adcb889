// The LibTorch side of kds::Model, shared by every architecture: what the training session needs.
#pragma once
#include <torch/torch.h>

#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/model.h"

namespace kds {

struct SrOutput {
  std::vector<torch::Tensor> features;
  torch::Tensor output;
};

class TorchModel : public Model {
 public:
  // Runs forward in the caller's grad mode, on the model's device.
  virtual SrOutput run(const torch::Tensor& input) = 0;
  // Every parameter, by its state-dict name (the frozen mean shifts included).
  virtual std::vector<std::pair<std::string, torch::Tensor>> namedParameters() = 0;
  virtual void setTraining(bool on) = 0;
  virtual void moveTo(const torch::Device& device) = 0;
  virtual torch::Device torchDevice() const = 0;

  // Trainable parameters (requires_grad), in a stable order.
  std::vector<torch::Tensor> trainableParameters();

  // kds::Model, implemented once for every architecture.
  int64_t parameterCount() const override;
  std::string device() const override { return torchDevice().str(); }
  ForwardResult forward(const Tensor& input) override;
  void loadStateDict(const std::string& path, const LoadOptions& options) override;
  void saveStateDict(const std::string& path) override;
  ModelSummary summary(int64_t height, int64_t width) override;

  // Held by whoever runs or changes this model (a training step, forward, load), so that two worker
  // threads never use it at once.
  std::mutex& mutex() const { return mutex_; }

 protected:
  // State-dict keys that may be absent from a file without being "missing" (the mean shifts).
  virtual bool isOptionalKey(const std::string&) const { return false; }
  // Rewrites a file's key to this model's naming (e.g. FAKD's renamed blocks); identity by default.
  virtual std::string canonicalKey(const std::string& key) const { return key; }
  // Fills multiplyAdds, outputShape and featureShapes for one height x width input (batch 1).
  virtual void describeCost(int64_t height, int64_t width, ModelSummary& out) = 0;

 private:
  void checkUpsamplerScale(const std::vector<std::pair<std::string, torch::Tensor>>& own,
                           const std::vector<std::pair<std::string, torch::Tensor>>& file, const std::string& path) const;

  mutable std::mutex mutex_;
};

// The TorchModel behind a kds::Model (all models are made by the core).
TorchModel& asTorchModel(Model& model);

}  // namespace kds
