// The LibTorch side of kds::Tensor: wraps an at::Tensor so the glue can hold it without torch headers.
#pragma once
#include <torch/torch.h>

#include "api/tensor.h"

namespace kds {

class TorchTensor final : public Tensor {
 public:
  explicit TorchTensor(torch::Tensor t) : t_(std::move(t)) {}
  Shape shape() const override { return t_.sizes().vec(); }
  std::string device() const override { return t_.device().str(); }
  size_t numel() const override { return static_cast<size_t>(t_.numel()); }
  size_t nbytes() const override { return t_.nbytes(); }
  void copyTo(float* dst) const override;
  const torch::Tensor& value() const { return t_; }

 private:
  torch::Tensor t_;
};

TensorPtr wrap(torch::Tensor t);
// The at::Tensor behind any kds::Tensor made by the core.
const torch::Tensor& unwrap(const Tensor& t);

}  // namespace kds
