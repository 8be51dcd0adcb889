#include "models/torchscript_model.h"

#include <sstream>

#include "api/error.h"
#include "core/runtime.h"
#include "io/atomic_file.h"
#include "io/torch_save.h"
#include "io/zip_check.h"
#include "models/op_counter.h"

namespace kds {
namespace {

const char* kExpected = "expected forward(x) to return Tensor or Tuple[List[Tensor], Tensor] (feature maps, output)";

// Decides from forward's declared return type whether the model yields features. Unknown types are
// rejected here, at load time, instead of in the middle of a training step.
bool declaresFeatures(const torch::jit::Module& module, const std::string& path) {
  if (!module.find_method("forward"))
    throw Error(ErrorCode::File, "TorchScript file '" + path + "' has no forward method");
  const auto& schema = module.get_method("forward").function().getSchema();
  if (schema.returns().size() != 1)
    throw Error(ErrorCode::File, "TorchScript '" + path + "': " + kExpected);
  const auto type = schema.returns()[0].type();
  if (type->kind() == c10::TypeKind::TensorType) return false;
  if (auto tuple = type->cast<c10::TupleType>()) {
    const auto& items = tuple->elements();
    const bool featuresOk = items.size() == 2 &&
                            (items[0]->isSubtypeOf(*c10::ListType::ofTensors()) ||
                             items[0]->kind() == c10::TypeKind::TupleType);
    if (featuresOk && items[1]->kind() == c10::TypeKind::TensorType) return true;
  }
  throw Error(ErrorCode::File, "TorchScript '" + path + "' returns " + type->str() + "; " + kExpected);
}

std::vector<torch::Tensor> tensorsOf(const c10::IValue& v) {
  if (v.isTensorList()) return v.toTensorVector();
  if (v.isList()) {
    std::vector<torch::Tensor> out;
    for (const auto& item : v.toListRef()) out.push_back(item.toTensor());
    return out;
  }
  if (v.isTuple()) {
    std::vector<torch::Tensor> out;
    for (const auto& item : v.toTupleRef().elements()) out.push_back(item.toTensor());
    return out;
  }
  throw Error(ErrorCode::Shape, std::string("TorchScript forward returned features of type ") + v.tagKind() + "; " + kExpected);
}

}  // namespace

TorchScriptModel::TorchScriptModel(torch::jit::Module module, bool hasFeatures, std::string path)
    : module_(std::move(module)), hasFeatures_(hasFeatures), path_(std::move(path)) {
  for (const auto& p : module_.parameters()) {
    device_ = p.device();
    break;
  }
}

SrOutput TorchScriptModel::run(const torch::Tensor& input) {
  c10::IValue result = module_.forward({input});
  SrOutput out;
  if (result.isTensor()) {
    out.output = result.toTensor();
  } else if (result.isTuple() && result.toTupleRef().elements().size() == 2 &&
             result.toTupleRef().elements()[1].isTensor()) {
    out.features = tensorsOf(result.toTupleRef().elements()[0]);
    out.output = result.toTupleRef().elements()[1].toTensor();
  } else {
    throw Error(ErrorCode::Shape, std::string("TorchScript forward returned a ") + result.tagKind() + "; " + kExpected);
  }
  if (out.output.dim() == 4 && input.dim() == 4 && input.size(2) > 0 && out.output.size(2) % input.size(2) == 0)
    scale_ = static_cast<int>(out.output.size(2) / input.size(2));
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> TorchScriptModel::namedParameters() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : module_.named_parameters(true)) out.emplace_back(item.name, item.value);
  return out;
}

void TorchScriptModel::moveTo(const torch::Device& device) {
  module_.to(device);
  device_ = device;
}

void TorchScriptModel::describeCost(int64_t height, int64_t width, ModelSummary& out) {
  torch::InferenceMode guard;
  auto input = torch::zeros({1, 3, height, width}, torch::TensorOptions().device(device_));
  SrOutput result;
  out.multiplyAdds = translateTorchErrors(ErrorCode::Shape, "summary: running the TorchScript model on a " + std::to_string(height) + " x " +
                                                                std::to_string(width) + " input failed",
                                          [&] { return countMultiplyAdds([&] { result = run(input); }); });
  auto withoutBatch = [](const torch::Tensor& t) {
    auto shape = t.sizes().vec();
    if (!shape.empty()) shape.erase(shape.begin());
    return shape;
  };
  out.outputShape = withoutBatch(result.output);
  for (const auto& f : result.features) out.featureShapes.push_back(withoutBatch(f));
}

void TorchScriptModel::save(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex());
  std::ostringstream buffer;
  translateTorchErrors(ErrorCode::File, "saving TorchScript to '" + path + "' failed", [&] { module_.save(buffer); });
  const std::string bytes = buffer.str();
  writeFileAtomically(path, std::vector<char>(bytes.begin(), bytes.end()));
}

ModelPtr loadTorchScript(const std::string& path) {
  applyThreadSettings();
  auto bytes = readWholeFile(path, "TorchScript file");
  checkZipIntegrity(bytes, "a TorchScript file written by torch.jit.save", path);
  checkPickleNesting(bytes, "TorchScript file", path);
  torch::jit::Module module = translateTorchErrors(
      ErrorCode::File, "'" + path + "' is not a TorchScript file written by torch.jit.save", [&] {
        std::istringstream stream(std::string(bytes.begin(), bytes.end()));
        return torch::jit::load(stream, torch::kCPU);
      });
  const bool hasFeatures = declaresFeatures(module, path);
  return std::make_shared<TorchScriptModel>(std::move(module), hasFeatures, path);
}

}  // namespace kds
