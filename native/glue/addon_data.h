// Per-environment constructors, so that C++ can create wrapped objects (e.g. a forward's output tensors).
#pragma once
#include <napi.h>

namespace kds::glue {

struct AddonData {
  Napi::FunctionReference tensorClass;
  Napi::FunctionReference modelClass;
};

inline AddonData& addonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace kds::glue
