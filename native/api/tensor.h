// A tensor owned by the core, on the CPU or a device. The glue only sees its shape and can copy it out.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kds {

using Shape = std::vector<int64_t>;

class Tensor {
 public:
  virtual ~Tensor() = default;
  virtual Shape shape() const = 0;
  virtual std::string device() const = 0;
  virtual size_t numel() const = 0;
  virtual size_t nbytes() const = 0;  // the memory this tensor's values take
  // Copies the values as contiguous float32 into dst, which holds numel() floats.
  virtual void copyTo(float* dst) const = 0;
};

using TensorPtr = std::shared_ptr<const Tensor>;

// Copies `data` (numel(shape) floats, row-major) into a new CPU tensor.
TensorPtr tensorFromHost(const float* data, const Shape& shape);

std::string shapeToString(const Shape& shape);

}  // namespace kds
