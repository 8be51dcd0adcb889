#include "core/torch_tensor.h"

#include <sstream>

#include "api/error.h"

namespace kds {

void TorchTensor::copyTo(float* dst) const {
  auto host = t_.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  std::memcpy(dst, host.data_ptr<float>(), host.numel() * sizeof(float));
}

TensorPtr wrap(torch::Tensor t) { return std::make_shared<TorchTensor>(std::move(t)); }

const torch::Tensor& unwrap(const Tensor& t) {
  auto* torchTensor = dynamic_cast<const TorchTensor*>(&t);
  if (!torchTensor) throw Error(ErrorCode::Internal, "tensor was not created by the kds core");
  return torchTensor->value();
}

TensorPtr tensorFromHost(const float* data, const Shape& shape) {
  int64_t numel = 1;
  for (auto d : shape) {
    if (d < 0) throw Error(ErrorCode::Shape, "negative dimension in shape " + shapeToString(shape));
    numel *= d;
  }
  auto t = torch::empty(shape, torch::kFloat32);
  if (numel > 0) std::memcpy(t.data_ptr<float>(), data, numel * sizeof(float));
  return wrap(std::move(t));
}

std::string shapeToString(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

}  // namespace kds
