// Reads what Python's torch.save writes, without Python: the zip archive of PyTorch >= 1.6 and the legacy
// stream before it (the format of the EDSR, RCAN and SAN releases), with a small unpickler for the opcodes
// torch.save emits and tensors rebuilt from their storages on the CPU.
//
// LibTorch's own torch::pickle_load cannot serve: it reads only the zip format, and it turns every
// collections.OrderedDict -- what model.state_dict() returns -- into None.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kds {

// One value of the unpickled object tree. Containers are shared because pickle memoizes and mutates them.
struct PickledValue {
  enum class Kind {
    None, Bool, Int, Float, String, Tuple, List, Dict, Tensor,
    Object,  // an instance of a class kds does not rebuild (argparse.Namespace, an nn.Module, ...); `text`: its class
    Global,  // a class or function named by the pickle (only while unpickling); `text`: "module.name"
  };
  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;
  std::vector<std::shared_ptr<PickledValue>> items;  // Tuple, List
  std::vector<std::pair<std::shared_ptr<PickledValue>, std::shared_ptr<PickledValue>>> entries;  // Dict, in order
  torch::Tensor tensor;

  PickledValue() = default;
  PickledValue(const PickledValue&) = delete;
  PickledValue& operator=(const PickledValue&) = delete;
  // Frees nested containers with a loop, not recursion: a crafted pickle of a million nested lists
  // (two bytes each) would otherwise overflow the stack when the tree is destroyed.
  ~PickledValue();

  std::string describe() const;  // "a dict", "a tensor", "an object of class argparse.Namespace", ...
};
using PickledPtr = std::shared_ptr<PickledValue>;

// Parses a whole torch.save file. Errors are kds::Error E_FILE naming `path`.
PickledPtr readTorchSave(const std::vector<char>& bytes, const std::string& path);

// For archives that LibTorch parses itself (TorchScript): throws E_FILE if a pickle in the zip archive
// `bytes` nests containers deeper than LibTorch's recursive unpickler and destructors survive (a crafted
// 2 MB pickle of a million nested lists crashes torch::jit::load). Pickles kds cannot read are left to
// LibTorch to judge.
void checkPickleNesting(const std::vector<char>& bytes, const std::string& what, const std::string& path);


}  // namespace kds
