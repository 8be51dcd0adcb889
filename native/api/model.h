// Super-resolution models as the glue sees them: built in C++ (EDSR, RCAN, SAN) or loaded from TorchScript.
// Every model maps an image batch (N,3,H,W on 0..255) to (feature maps, SR output).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/tensor.h"

namespace kds {

struct ForwardResult {
  std::vector<TensorPtr> features;
  TensorPtr output;
};

// Model options: lib/model-specs.ts owns the defaults and checks and sends every field; no second set of
// defaults here (fields are value-initialised).
struct EdsrOptions {
  int scale{};
  int nResblocks{};
  int nFeats{};
  double resScale{};
  double rgbRange{};
  int nColors = 3;  // not an option: kds models are RGB
};

// RCAN (Zhang et al. 2018).
struct RcanOptions {
  int scale{};
  int nResgroups{};
  int nResblocks{};
  int nFeats{};
  int reduction{};
  double resScale{};
  double rgbRange{};
  // Residual groups (1-based counts) after which a feature is tapped; empty: the default rule.
  std::vector<int> featureGroups;
};

// SAN (Dai et al. 2019).
struct SanOptions {
  int scale{};
  int nResgroups{};
  int nResblocks{};
  int nFeats{};
  int reduction{};
  int nonLocalChannels{};  // inner channels of the non-local block; 0: nFeats / 8 (the SAN release)
  double rgbRange{};
  std::vector<int> featureGroups;  // as in RcanOptions
};

// What a model costs for one LR input of height x width (batch 1).
struct ModelSummary {
  int64_t parameters = 0;        // trainable parameters (parameterCount)
  int64_t frozenParameters = 0;  // parameters that never train (mean shifts)
  int64_t multiplyAdds = -1;     // -1: unknown
  std::vector<int64_t> outputShape;                 // [3, H, W]
  std::vector<std::vector<int64_t>> featureShapes;  // [C, h, w] per feature tap
};

struct LoadOptions {  // set by lib/models.ts
  bool strict{};
};

class Model {
 public:
  virtual ~Model() = default;
  virtual std::string kind() const = 0;               // "edsr", "rcan", "san" or "torchscript"
  virtual bool hasFeatures() const = 0;               // false: forward returns only the output
  virtual std::optional<int> scale() const = 0;       // unknown for TorchScript until it has run
  virtual int64_t parameterCount() const = 0;         // trainable parameters
  virtual std::string device() const = 0;
  // Runs the model in inference mode on its device.
  virtual ForwardResult forward(const Tensor& input) = 0;
  // EDSR: a state dict that torch.load reads; TorchScript: a torch.jit.load-able archive. Atomic.
  virtual void save(const std::string& path) = 0;
  // Every parameter as a state dict that torch.load reads. Atomic.
  virtual void saveStateDict(const std::string& path) = 0;
  // Loads a state dict written by torch.save (EDSR-PyTorch key names). Nothing changes on error.
  virtual void loadStateDict(const std::string& path, const LoadOptions& options) = 0;
  // Parameter counts, multiply-adds and shapes for one LR input of height x width.
  virtual ModelSummary summary(int64_t height, int64_t width) = 0;
};

using ModelPtr = std::shared_ptr<Model>;

ModelPtr createEdsr(const EdsrOptions& options);
ModelPtr createRcan(const RcanOptions& options);
ModelPtr createSan(const SanOptions& options);
ModelPtr loadTorchScript(const std::string& path);

}  // namespace kds
