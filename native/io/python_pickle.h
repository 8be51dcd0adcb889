// Serialises an IValue (dicts, strings, numbers, tensors) in the zip format of Python's torch.save,
// readable by torch.load with its default weights_only=True. torch::pickle_save tags typed containers with
// torch.jit._pickle.restore_type_tag, which weights_only loading refuses; this writes plain containers.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace kds {

std::vector<char> pickleForPython(const c10::IValue& value);

}  // namespace kds
