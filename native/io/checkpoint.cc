#include "io/checkpoint.h"

#include "api/error.h"
#include "core/runtime.h"
#include "io/atomic_file.h"
#include "io/python_pickle.h"
#include "io/torch_save.h"
#include "io/zip_check.h"

namespace kds {
namespace {

const char* kFormat = "kds-checkpoint-1";

c10::Dict<std::string, torch::Tensor> toDict(const NamedTensors& tensors) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, t] : tensors) dict.insert(name, t.detach().to(torch::kCPU).contiguous().clone());
  return dict;
}

// kds's own torch.save reader (io/torch_save), not torch::pickle_load: LibTorch's unpickler crashes on
// crafted files that pass the CRC check (a pickle of a million nested lists overflows its stack).
[[noreturn]] void notACheckpoint(const std::string& path, const std::string& why) {
  throw Error(ErrorCode::File, "'" + path + "' is not a kds checkpoint (" + why + ")");
}

PickledPtr field(const PickledValue& dict, const char* name, const std::string& path) {
  for (const auto& [k, v] : dict.entries)
    if (k->kind == PickledValue::Kind::String && k->text == name) return v;
  notACheckpoint(path, std::string("no '") + name + "' field");
}

NamedTensors tensorsOf(const PickledValue& value, const std::string& name, const std::string& path) {
  if (value.kind != PickledValue::Kind::Dict) notACheckpoint(path, "field '" + name + "' is not a dict");
  NamedTensors out;
  for (const auto& [k, v] : value.entries) {
    if (k->kind != PickledValue::Kind::String || v->kind != PickledValue::Kind::Tensor)
      notACheckpoint(path, "field '" + name + "' must map names to tensors");
    out.emplace_back(k->text, v->tensor);
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
  if (!c.gradScaler.empty()) dict.insert(std::string("grad_scaler"), toDict(c.gradScaler));
  if (!c.ema.empty()) dict.insert(std::string("ema"), toDict(c.ema));
  writeFileAtomically(path, pickleForPython(c10::IValue(dict)));
}

Checkpoint readCheckpoint(const std::string& path) {
  auto bytes = readWholeFile(path, "checkpoint");
  checkZipIntegrity(bytes, "a kds checkpoint", path);
  PickledPtr root = readTorchSave(bytes, path);
  if (root->kind != PickledValue::Kind::Dict) notACheckpoint(path, "it holds " + root->describe() + ", not a dict");
  auto format = field(*root, "format", path);
  if (format->kind != PickledValue::Kind::String || format->text != kFormat)
    throw Error(ErrorCode::File, "'" + path + "' is not a " + kFormat + " file");
  Checkpoint c;
  c.student = tensorsOf(*field(*root, "student", path), "student", path);
  c.optimizer = tensorsOf(*field(*root, "optimizer", path), "optimizer", path);
  auto steps = field(*root, "steps", path), rng = field(*root, "rng", path), extra = field(*root, "extra", path);
  if (steps->kind != PickledValue::Kind::Int || rng->kind != PickledValue::Kind::Tensor || extra->kind != PickledValue::Kind::String)
    throw Error(ErrorCode::File, "checkpoint '" + path + "' has fields of the wrong type");
  c.steps = steps->integer;
  c.rng = rng->tensor;
  c.extra = extra->text;
  for (const auto& [k, v] : root->entries) {  // optional: written by fp16 runs and runs with a weight average only
    if (k->kind == PickledValue::Kind::String && k->text == "grad_scaler") c.gradScaler = tensorsOf(*v, "grad_scaler", path);
    if (k->kind == PickledValue::Kind::String && k->text == "ema") c.ema = tensorsOf(*v, "ema", path);
  }
  return c;
}

}  // namespace kds
