// The model table: each kind kds builds, by the name lib/models/registry.ts gives it, and its factory.
// A new kind is one native/models/<kind>.cc defining its factory, one row here, and one line in
// CMakeLists.txt (see docs/contributing.md).
#include <string>
#include <utility>

#include "api/error.h"
#include "api/model.h"

namespace kds {

// Defined in native/models/<kind>.cc.
ModelPtr createEdsr(const ModelSpec& spec);
ModelPtr createRcan(const ModelSpec& spec);
ModelPtr createSan(const ModelSpec& spec);

namespace {

using ModelFactory = ModelPtr (*)(const ModelSpec&);

constexpr std::pair<const char*, ModelFactory> kModelTable[] = {
    {"edsr", createEdsr},
    {"rcan", createRcan},
    {"san", createSan},
};

}  // namespace

ModelPtr createModel(const ModelSpec& spec) {
  std::string known;
  for (const auto& [kind, factory] : kModelTable) {
    if (spec.kind == kind) return factory(spec);
    known += known.empty() ? kind : std::string(", ") + kind;
  }
  throw Error(ErrorCode::Argument, "unknown model kind '" + spec.kind + "': expected one of " + known);
}

}  // namespace kds
