// A model's weights by state-dict name, for exporters (ONNX) that rebuild the network elsewhere.
#pragma once
#include <string>
#include <vector>

#include "api/model.h"

namespace kds {

struct NamedTensor {
  std::string name;
  TensorPtr tensor;
};

// Every parameter and buffer of `model` by state-dict name, as float32 copies on the CPU: a snapshot that a
// later training step cannot change.
std::vector<NamedTensor> namedTensors(Model& model);

}  // namespace kds
