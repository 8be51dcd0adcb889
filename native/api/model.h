// Super-resolution models as the glue sees them: built in C++ (EDSR) or loaded from TorchScript.
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

struct EdsrOptions {
  int scale = 2;
  int nResblocks = 16;
  int nFeats = 64;
  double resScale = 1.0;
  double rgbRange = 255.0;
  int nColors = 3;
};

// RCAN (Zhang et al. 2018). Defaults: the published model (10 groups x 20 RCABs, 64 channels).
struct RcanOptions {
  int scale = 2;
  int nResgroups = 10;
  int nResblocks = 20;
  int nFeats = 64;
  int reduction = 16;
  double resScale = 1.0;
  double rgbRange = 255.0;
  // Residual groups (1-based counts) after which a feature is tapped; empty: the default rule.
  std::vector<int> featureGroups;
};

// SAN (Dai et al. 2019). Defaults: the published model (20 groups x 10 blocks, 64 channels).
struct SanOptions {
  int scale = 2;
  int nResgroups = 20;
  int nResblocks = 10;
  int nFeats = 64;
  int reduction = 16;
  int nonLocalChannels = 0;  // inner channels of the non-local block; 0: nFeats / 8 (the SAN release)
  double rgbRange = 255.0;
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

struct LoadOptions {
  bool strict = true;
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
