// Reads a kind's hyper-parameters out of a ModelSpec. TypeScript has validated and completed the spec
// (lib/models/<kind>.ts); these checks are the last line before LibTorch, which would abort or build
// nonsense on a zero size, and they catch a key that one side has and the other lacks.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "api/model.h"

namespace kds {

class SpecReader {
 public:
  explicit SpecReader(const ModelSpec& spec) : spec_(spec) {}
  // An integer >= min.
  int integer(const std::string& key, int min = 1);
  // A finite number > 0.
  double positive(const std::string& key);
  // The upscaling factor: 2, 3, 4 or 8.
  int scale();
  // Feature taps: a non-empty list of group counts, increasing, each in 1..nResgroups.
  std::vector<int> groups(const std::string& key, int nResgroups);
  // Call after reading everything: a key the kind never read is an error (E_ARG), not ignored.
  void finish() const;

 private:
  double number(const std::string& key);
  [[noreturn]] void fail(const std::string& message) const;

  const ModelSpec& spec_;
  std::set<std::string> read_;
};

}  // namespace kds
