#include "io/checkpoint.h"

#include "api/error.h"
#include "core/runtime.h"
#include "io/atomic_file.h"
#include "io/python_pickle.h"
#include "io/zip_check.h"

namespace kds {
namespace {

const char* kFormat = "kds-checkpoint-1";

c10::Dict<std::string, torch::Tensor> toDict(const NamedTensors& tensors) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, t] : tensors) dict.insert(name, t.detach().to(torch::kCPU).contiguous().clone());
  return dict;
}

NamedTensors fromDict(const c10::IValue& value, const std::string& field, const std::string& path) {
  if (!value.isGenericDict()) throw Error(ErrorCode::File, "checkpoint '" + path + "': field '" + field + "' is not a dict");
  NamedTensors out;
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString() || !entry.value().isTensor())
      throw Error(ErrorCode::File, "checkpoint '" + path + "': field '" + field + "' must map names to tensors");
    out.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
  }
  return out;
}

}  // namespace

void writeCheckpoint(const std::string& path, const Checkpoint& c) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert(std::string("format"), std::string(kFormat));
  dict.insert(std::string("student"), toDict(c.student));
  dict.insert(std::string("optimizer"), toDict(c.optimizer));
  dict.insert(std::string("steps"), c.steps);
  dict.insert(std::string("rng"), c.rng.defined() ? c.rng.clone() : torch::empty({0}, torch::kUInt8));
  dict.insert(std::string("extra"), c.extra);
  writeFileAtomically(path, pickleForPython(c10::IValue(dict)));
}

Checkpoint readCheckpoint(const std::string& path) {
  auto bytes = readWholeFile(path, "checkpoint");
  checkZipIntegrity(bytes, "checkpoint", path);
  c10::IValue value = translateTorchErrors(ErrorCode::File, "'" + path + "' is not a kds checkpoint", [&] {
    return torch::pickle_load(bytes);
  });
  auto field = [&](const char* name) -> c10::IValue {
    if (!value.isGenericDict()) throw Error(ErrorCode::File, "'" + path + "' is not a kds checkpoint (not a dict)");
    auto dict = value.toGenericDict();
    auto it = dict.find(c10::IValue(std::string(name)));
    if (it == dict.end()) throw Error(ErrorCode::File, "'" + path + "' is not a kds checkpoint (no '" + name + "' field)");
    return it->value();
  };
  auto format = field("format");
  if (!format.isString() || format.toStringRef() != kFormat)
    throw Error(ErrorCode::File, "'" + path + "' is not a " + kFormat + " file");
  Checkpoint c;
  c.student = fromDict(field("student"), "student", path);
  c.optimizer = fromDict(field("optimizer"), "optimizer", path);
  auto steps = field("steps"), rng = field("rng"), extra = field("extra");
  if (!steps.isInt() || !rng.isTensor() || !extra.isString())
    throw Error(ErrorCode::File, "checkpoint '" + path + "' has fields of the wrong type");
  c.steps = steps.toInt();
  c.rng = rng.toTensor();
  c.extra = extra.toStringRef();
  return c;
}

}  // namespace kds
