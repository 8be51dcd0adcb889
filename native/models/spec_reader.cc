#include "models/spec_reader.h"

#include <cmath>

#include "api/error.h"

namespace kds {

void SpecReader::fail(const std::string& message) const { throw Error(ErrorCode::Argument, spec_.kind + ": " + message); }

double SpecReader::number(const std::string& key) {
  auto it = spec_.numbers.find(key);
  if (it == spec_.numbers.end()) fail("the spec lacks '" + key + "'");
  read_.insert(key);
  return it->second;
}

int SpecReader::integer(const std::string& key, int min) {
  const double v = number(key);
  if (!(v >= min && v <= 1e9 && v == std::floor(v))) fail(key + " must be an integer >= " + std::to_string(min) + ", got " + std::to_string(v));
  return static_cast<int>(v);
}

double SpecReader::positive(const std::string& key) {
  const double v = number(key);
  if (!(v > 0 && std::isfinite(v))) fail(key + " must be a positive number, got " + std::to_string(v));
  return v;
}

int SpecReader::scale() {
  const int s = integer("scale");
  if (s != 2 && s != 3 && s != 4 && s != 8) fail("scale must be 2, 3, 4 or 8, got " + std::to_string(s));
  return s;
}

std::vector<int> SpecReader::groups(const std::string& key, int nResgroups) {
  auto it = spec_.intLists.find(key);
  if (it == spec_.intLists.end() || it->second.empty()) fail("the spec lacks '" + key + "' (a non-empty list)");
  read_.insert(key);
  const auto& list = it->second;
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i] < 1 || list[i] > nResgroups)
      fail(key + " entries must be between 1 and nResgroups (" + std::to_string(nResgroups) + "), got " + std::to_string(list[i]));
    if (i > 0 && list[i] < list[i - 1]) fail(key + " must be in increasing order");
  }
  return list;
}

void SpecReader::finish() const {
  for (const auto& [key, value] : spec_.numbers)
    if (!read_.count(key)) fail("unknown option '" + key + "'");
  for (const auto& [key, value] : spec_.intLists)
    if (!read_.count(key)) fail("unknown option '" + key + "'");
}

}  // namespace kds
