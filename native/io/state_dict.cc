#include "io/state_dict.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/unpickler.h>

#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "api/error.h"
#include "api/tensor.h"
#include "core/runtime.h"
#include "io/atomic_file.h"
#include "io/pickle_compat.h"

namespace kds {
namespace {

c10::IValue unwrapContainer(c10::IValue value) {
  for (int depth = 0; depth < 2 && value.isGenericDict(); ++depth) {
    auto dict = value.toGenericDict();
    bool unwrapped = false;
    for (const char* key : {"state_dict", "model", "params"}) {
      auto it = dict.find(c10::IValue(std::string(key)));
      if (it != dict.end() && it->value().isGenericDict()) {
        value = it->value();
        unwrapped = true;
        break;
      }
    }
    if (!unwrapped) break;
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

// torch::pickle_save tags typed dicts with the global torch.jit._pickle.restore_type_tag, which the
// default torch.load (weights_only=True since PyTorch 2.6) refuses to unpickle. This writes the same
// archive (data.pkl + data/N) without those tags: a plain dict of tensors, like Python's torch.save.
std::vector<char> pickleForTorchLoad(const c10::IValue& value) {
  std::vector<char> pickled;
  torch::jit::Pickler pickler([&](const char* bytes, size_t n) { pickled.insert(pickled.end(), bytes, bytes + n); },
                              nullptr, nullptr, nullptr, nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  std::vector<char> archive;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
    const char* bytes = static_cast<const char*>(data);
    archive.insert(archive.end(), bytes, bytes + n);
    return n;
  });
  torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(), writer);
  writer.writeEndOfFile();
  return archive;
}

// The archive in memory, for PyTorchStreamReader (LibTorch's own VectorReader is not exported).
class BytesReader final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BytesReader(const std::vector<char>& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char*) const override {
    if (pos >= bytes_.size()) return 0;
    n = std::min<size_t>(n, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  const std::vector<char>& bytes_;
};

bool isOrderedDictWithState(const c10::IValue& v) {
  if (!v.isTuple()) return false;
  const auto& items = v.toTupleRef().elements();
  return items.size() == 3 && items[2].isString() && items[2].toStringRef() == kOrderedDictWithState;
}

// Replaces each (dict, state, tag) that plainDictsForOrderedDicts made of an OrderedDict with attributes
// (a state_dict()'s `_metadata`) by the dict, at the top and inside dicts.
c10::IValue withoutOrderedDictState(c10::IValue v) {
  while (isOrderedDictWithState(v)) v = v.toTupleRef().elements()[0];
  if (v.isGenericDict())
    for (const auto& entry : v.toGenericDict()) entry.setValue(withoutOrderedDictState(entry.value()));
  return v;
}

// torch::pickle_load, except that OrderedDicts (the root of every `torch.save(model.state_dict())`)
// are read as dicts instead of None; see io/pickle_compat.h.
c10::IValue loadTorchSaveFile(const std::vector<char>& bytes) {
  caffe2::serialize::PyTorchStreamReader archive(std::make_shared<BytesReader>(bytes));
  auto [data, size] = archive.getRecord("data.pkl");
  const std::string pickle = plainDictsForOrderedDicts(std::string(static_cast<const char*>(data.get()), size));
  size_t position = 0;
  auto read = [&](char* buffer, size_t n) {
    n = std::min(n, pickle.size() - position);
    std::memcpy(buffer, pickle.data() + position, n);
    position += n;
    return n;
  };
  auto readTensorRecord = [&](const std::string& name) { return std::get<0>(archive.getRecord("data/" + name)); };
  torch::jit::Unpickler unpickler(read, nullptr, nullptr, readTensorRecord, std::nullopt);
  unpickler.set_version(archive.version());
  return withoutOrderedDictState(unpickler.parse_ivalue());
}

}  // namespace

NamedTensors readStateDict(const std::string& path) {
  auto bytes = readWholeFile(path, "state dict");
  c10::IValue value = translateTorchErrors(ErrorCode::File, "'" + path + "' is not a state dict saved by torch.save", [&] {
    return loadTorchSaveFile(bytes);
  });
  value = unwrapContainer(value);
  if (!value.isGenericDict())
    throw Error(ErrorCode::File, "'" + path + "' holds a " + value.tagKind() + ", expected a state dict (a dict of tensors)");
  NamedTensors out;
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString())
      throw Error(ErrorCode::File, "'" + path + "' is not a state dict: a key is a " + entry.key().tagKind() + ", not a string");
    const std::string key = stripModulePrefix(entry.key().toStringRef());
    if (!entry.value().isTensor())
      throw Error(ErrorCode::File, "'" + path + "': entry '" + key + "' is a " + entry.value().tagKind() + ", expected a tensor");
    out.emplace_back(key, entry.value().toTensor());
  }
  return out;
}

void writeStateDict(const std::string& path, const NamedTensors& tensors) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, t] : tensors) dict.insert(name, t.detach().to(torch::kCPU).contiguous().clone());
  std::vector<char> bytes = pickleForTorchLoad(c10::IValue(dict));
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
