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

struct LoadOptions {
  bool strict = true;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual std::string kind() const = 0;               // "edsr" or "torchscript"
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
};

using ModelPtr = std::shared_ptr<Model>;

ModelPtr createEdsr(const EdsrOptions& options);
ModelPtr loadTorchScript(const std::string& path);

}  // namespace kds
