// Whole-file reads and crash-safe writes (temporary file, fsync, rename, fsync of the folder): a reader
// sees the old file or the new one, never a torn one, even if the process is killed midway.
#pragma once
#include <string>
#include <vector>

namespace kds {

std::vector<char> readWholeFile(const std::string& path, const std::string& what);
void writeFileAtomically(const std::string& path, const std::vector<char>& bytes);

}  // namespace kds
