// Integrity check of the zip archives that torch.save and torch.jit.save write, before LibTorch parses
// them: LibTorch's zip reader skips CRC checks and its unpickler trusts the bytes, so a corrupted or
// truncated file could crash the process instead of failing. Every stored entry's CRC-32 is verified.
#pragma once
#include <string>
#include <vector>

namespace kds {

// Throws kds::Error(E_FILE) "'<path>' is not <what>: ..." when `bytes` is not an intact zip archive;
// `what` names the expected file, e.g. "a state dict saved by torch.save".
void checkZipIntegrity(const std::vector<char>& bytes, const std::string& what, const std::string& path);

}  // namespace kds
