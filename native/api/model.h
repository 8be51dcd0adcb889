// Super-resolution models as the glue sees them: a kds-built kind (EDSR, RCAN, SAN; the table in
// native/models/registry.cc) made from a complete spec, or a TorchScript module loaded from a file.
// Every model maps an image batch (N,3,H,W on 0..255) to (feature maps, SR output).
#pragma once
#include <cstdint>
#include <map>
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

// The complete hyper-parameters of a kds-built model, by option name, as lib/models/<kind>.ts makes them:
// TypeScript owns the defaults and the checks, so every key is present. The kind's factory reads what it
// needs and refuses a missing or an unknown key (a TypeScript and C++ pair that disagree).
struct ModelSpec {
  std::string kind;                                 // "edsr", "rcan", "san"
  std::map<std::string, double> numbers;            // scale, nFeats, resScale, ...
  std::map<std::string, std::vector<int>> intLists;  // featureGroups
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
  virtual std::string kind() const = 0;               // a kind of the model table, or "torchscript"
  virtual bool hasFeatures() const = 0;               // false: forward returns only the output
  virtual std::optional<int> scale() const = 0;       // unknown for TorchScript until it has run
  virtual int64_t parameterCount() const = 0;         // trainable parameters
  virtual std::string device() const = 0;
  // Runs the model in inference mode on its device.
  virtual ForwardResult forward(const Tensor& input) = 0;
  // kds-built kinds: a state dict that torch.load reads; TorchScript: a torch.jit.load-able archive. Atomic.
  virtual void save(const std::string& path) = 0;
  // Every parameter as a state dict that torch.load reads. Atomic.
  virtual void saveStateDict(const std::string& path) = 0;
  // Loads a state dict written by torch.save (the reference implementations' key names, and FAKD's).
  // Nothing changes on error.
  virtual void loadStateDict(const std::string& path, const LoadOptions& options) = 0;
  // Parameter counts, multiply-adds and shapes for one LR input of height x width.
  virtual ModelSummary summary(int64_t height, int64_t width) = 0;
};

using ModelPtr = std::shared_ptr<Model>;

// Builds spec.kind from the model table; E_ARG for an unknown kind or a spec that does not fit it.
ModelPtr createModel(const ModelSpec& spec);
ModelPtr loadTorchScript(const std::string& path);

}  // namespace kds
