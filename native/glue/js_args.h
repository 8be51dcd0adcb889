// Reading plain option objects from JS. TypeScript owns every default and every check: lib/ sends complete,
// validated objects, so these readers take no fallback. A missing or mistyped key is a kds bug (lib/ forgot
// to send it), reported as E_ARG naming the key, never filled in quietly.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "glue/errors.h"

namespace kds::glue {

inline const char* jsTypeName(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "nothing (undefined)";
    case napi_null: return "null";
    case napi_boolean: return "a boolean";
    case napi_number: return "a number";
    case napi_string: return "a string";
    default: return v.IsArray() ? "an array" : "an object";
  }
}

[[noreturn]] inline void missingOption(const Napi::Object& o, const char* key, const char* expected) {
  throw makeError(o.Env(), ErrorCode::Argument,
                  std::string("option '") + key + "' must be " + expected + ", got " + jsTypeName(o.Get(key)) +
                      ": lib/ must send every option (a kds bug)");
}

inline double numberOption(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) missingOption(o, key, "a number");
  return v.As<Napi::Number>().DoubleValue();
}

inline bool boolOption(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) missingOption(o, key, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

inline std::string stringOption(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) missingOption(o, key, "a string");
  return v.As<Napi::String>().Utf8Value();
}

inline std::vector<int> intArrayOption(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) missingOption(o, key, "an array of integers");
  auto a = v.As<Napi::Array>();
  std::vector<int> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value item = a.Get(i);
    if (!item.IsNumber()) missingOption(o, key, "an array of integers");
    out.push_back(item.As<Napi::Number>().Int32Value());
  }
  return out;
}

inline std::string stringArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString())
    throw makeError(info.Env(), ErrorCode::Argument, std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

// An options object; lib/ always sends one.
inline Napi::Object objectArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsObject())
    throw makeError(info.Env(), ErrorCode::Argument, std::string(name) + " must be an object: lib/ must send every option (a kds bug)");
  return info[i].As<Napi::Object>();
}

}  // namespace kds::glue
