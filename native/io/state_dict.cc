#include "io/state_dict.h"

#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "api/error.h"
#include "api/tensor.h"
#include "core/runtime.h"
#include "io/atomic_file.h"
#include "io/python_pickle.h"
#include "io/torch_save.h"
#include "io/zip_check.h"

namespace kds {
namespace {

// Training checkpoints wrap the weights: {'state_dict': ...}, {'model': ...}, {'params': ...}.
PickledPtr unwrapContainer(PickledPtr value) {
  for (int depth = 0; depth < 2 && value->kind == PickledValue::Kind::Dict; ++depth) {
    PickledPtr inner;
    for (const char* key : {"state_dict", "model", "params"})
      for (const auto& [k, v] : value->entries)
        if (!inner && k->kind == PickledValue::Kind::String && k->text == key && v->kind == PickledValue::Kind::Dict) inner = v;
    if (!inner) break;
    value = inner;
  }
  return value;
}

std::string stripModulePrefix(std::string key) {
  static const std::string prefix = "module.";
  while (key.rfind(prefix, 0) == 0) key = key.substr(prefix.size());
  return key;
}

std::string listKeys(const std::string& title, const std::vector<std::string>& keys) {
  if (keys.empty()) return "";
  std::ostringstream out;
  out << "\n  " << title << " (" << keys.size() << "): ";
  const size_t shown = std::min<size_t>(keys.size(), 40);
  for (size_t i = 0; i < shown; ++i) out << (i ? ", " : "") << keys[i];
  if (shown < keys.size()) out << ", ... (" << keys.size() - shown << " more)";
  return out.str();
}

}  // namespace

NamedTensors readStateDict(const std::string& path) {
  auto bytes = readWholeFile(path, "state dict");
  // Zip archives (torch.save since 1.6) are checked before parsing; the legacy format has no checksums.
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "PK\x03\x04", 4) == 0) checkZipIntegrity(bytes, "a state dict saved by torch.save", path);
  auto value = unwrapContainer(readTorchSave(bytes, path));
  if (value->kind == PickledValue::Kind::Object && value->text.rfind("__torch__.", 0) == 0)
    throw Error(ErrorCode::File, "'" + path + "' is a TorchScript module (" + value->text + "), not a state dict: load it with loadTorchScript()");
  if (value->kind == PickledValue::Kind::Object)
    throw Error(ErrorCode::File, "'" + path + "' holds " + value->describe() + ", not a state dict; in Python, save model.state_dict() instead");
  if (value->kind != PickledValue::Kind::Dict)
    throw Error(ErrorCode::File, "'" + path + "' holds " + value->describe() + ", expected a state dict (a dict of tensors)");
  NamedTensors out;
  for (const auto& [k, v] : value->entries) {
    if (k->kind != PickledValue::Kind::String)
      throw Error(ErrorCode::File, "'" + path + "' is not a state dict: a key is " + k->describe() + ", not a string");
    const std::string key = stripModulePrefix(k->text);
    if (v->kind != PickledValue::Kind::Tensor)
      throw Error(ErrorCode::File, "'" + path + "': entry '" + key + "' is " + v->describe() + ", expected a tensor");
    out.emplace_back(key, v->tensor);
  }
  return out;
}

void writeStateDict(const std::string& path, const NamedTensors& tensors) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, t] : tensors) dict.insert(name, t.detach().to(torch::kCPU).contiguous().clone());
  std::vector<char> bytes = pickleForPython(c10::IValue(dict));
  writeFileAtomically(path, bytes);
}

void applyStateDict(const NamedTensors& own, const NamedTensors& file, bool strict,
                    const std::function<bool(const std::string&)>& isOptional, const std::string& path) {
  std::map<std::string, torch::Tensor> given(file.begin(), file.end());
  std::vector<std::string> missing, unexpected, wrongShape;
  std::set<std::string> ownNames;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  for (const auto& [name, param] : own) {
    ownNames.insert(name);
    auto it = given.find(name);
    if (it == given.end()) {
      if (!isOptional(name)) missing.push_back(name);
      continue;
    }
    if (!it->second.sizes().equals(param.sizes())) {
      wrongShape.push_back(name + " (file " + shapeToString(it->second.sizes().vec()) + ", model " +
                           shapeToString(param.sizes().vec()) + ")");
      continue;
    }
    copies.emplace_back(param, it->second);
  }
  for (const auto& [name, t] : file)
    if (!ownNames.count(name)) unexpected.push_back(name);

  if (!wrongShape.empty() || (strict && (!missing.empty() || !unexpected.empty()))) {
    throw Error(ErrorCode::File, "state dict '" + path + "' does not fit this model" +
                                     listKeys("wrongly shaped keys", wrongShape) + listKeys("missing keys", missing) +
                                     listKeys("unexpected keys", unexpected) +
                                     (strict ? "\n  (pass { strict: false } to ignore missing and unexpected keys)" : ""));
  }
  // Stage converted copies first so that a failure cannot leave the model half-loaded.
  std::vector<torch::Tensor> staged;
  staged.reserve(copies.size());
  for (auto& [param, value] : copies) staged.push_back(value.to(param.device(), param.scalar_type()));
  torch::NoGradGuard noGrad;
  for (size_t i = 0; i < copies.size(); ++i) copies[i].first.copy_(staged[i]);
}

}  // namespace kds
