// State dicts in PyTorch's own file format, so that files travel both ways between kds and Python:
// readStateDict reads what `torch.save(model.state_dict())` writes (zip or pre-1.6 legacy format, see
// torch_save.h); writeStateDict writes what `torch.load` reads, also with weights_only=True (its default).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace kds {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Accepts a bare state dict or one wrapped as {'state_dict': ...} / {'model': ...} / {'params': ...} (other
// entries of a training checkpoint are ignored), and strips the 'module.' prefix that DataParallel adds.
NamedTensors readStateDict(const std::string& path);
void writeStateDict(const std::string& path, const NamedTensors& tensors);

// Copies `file` into `own` (matched by name). Every missing, unexpected and wrongly shaped key is named in
// one E_FILE error; shapes must always match, names only when strict. Nothing is copied unless all checks
// pass, so a failed load changes no weight.
void applyStateDict(const NamedTensors& own, const NamedTensors& file, bool strict,
                    const std::function<bool(const std::string&)>& isOptional, const std::string& path);

}  // namespace kds
