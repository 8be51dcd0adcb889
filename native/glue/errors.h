// C++ exceptions -> JavaScript errors. Every kds::Error becomes a JS Error whose `code` is the stable
// name from kds::errorCodeName; anything else becomes E_INTERNAL. Nothing escapes as a crash.
#pragma once
#include <napi.h>

#include <exception>
#include <string>

#include "api/error.h"

namespace kds::glue {

struct ErrorInfo {
  std::string code;
  std::string message;
};

// Describes the exception currently being handled (call inside a catch block).
ErrorInfo describeCurrentException();

Napi::Error makeError(Napi::Env env, const ErrorInfo& info);
Napi::Error makeError(Napi::Env env, ErrorCode code, const std::string& message);

// Runs fn on the JS thread; exceptions other than Napi::Error are rethrown as JS errors with a code.
template <typename F>
auto guarded(Napi::Env env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw makeError(env, describeCurrentException());
  }
}

}  // namespace kds::glue
