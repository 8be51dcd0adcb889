// LibTorch's C++ unpickler turns every collections.OrderedDict into None (it expects them only as a
// tensor's empty backward hooks), so the files `torch.save(model.state_dict())` writes, whose root is an
// OrderedDict with a `_metadata` attribute, fail to load (pytorch/pytorch#100741). This rewrites such a
// pickle, using only opcodes that unpickler knows, so that it reads each OrderedDict() as a plain dict.
#pragma once
#include <string>

namespace kds {

// An OrderedDict with attributes (BUILD state) comes out of the rewritten pickle as the tuple
// (dict, state, kOrderedDictWithState); the reader keeps element 0.
inline constexpr const char* kOrderedDictWithState = "kds.pickle_compat.OrderedDictWithState";

// Rewrites `OrderedDict()` (GLOBAL collections.OrderedDict, or a memo reference to it, called with no
// arguments) into an empty dict, and BUILD into the tuple above. Returns the pickle unchanged when it
// has no OrderedDict, or uses opcodes (or objects) this does not handle; the unpickler then reports
// what it finds.
std::string plainDictsForOrderedDicts(const std::string& pickle);

}  // namespace kds
