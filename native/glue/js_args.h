// Reading plain option objects from JS. lib/ validates options first; these checks are the last line.
#pragma once
#include <napi.h>

#include <string>

#include "glue/errors.h"

namespace kds::glue {

inline double numberOption(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw makeError(o.Env(), ErrorCode::Argument, std::string("option '") + key + "' must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

inline bool boolOption(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) throw makeError(o.Env(), ErrorCode::Argument, std::string("option '") + key + "' must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

inline std::string stringOption(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsString()) throw makeError(o.Env(), ErrorCode::Argument, std::string("option '") + key + "' must be a string");
  return v.As<Napi::String>().Utf8Value();
}

inline std::string stringArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString())
    throw makeError(info.Env(), ErrorCode::Argument, std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

inline Napi::Object objectArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || info[i].IsUndefined()) return Napi::Object::New(info.Env());
  if (!info[i].IsObject()) throw makeError(info.Env(), ErrorCode::Argument, std::string(name) + " must be an object");
  return info[i].As<Napi::Object>();
}

}  // namespace kds::glue
