#include "glue/errors.h"

#include <new>

namespace kds::glue {

ErrorInfo describeCurrentException() {
  try {
    throw;
  } catch (const Error& e) {
    return {errorCodeName(e.code()), e.what()};
  } catch (const std::bad_alloc&) {
    return {"E_INTERNAL", "out of memory"};
  } catch (const std::exception& e) {
    return {"E_INTERNAL", e.what()};
  } catch (...) {
    return {"E_INTERNAL", "unknown native error"};
  }
}

Napi::Error makeError(Napi::Env env, const ErrorInfo& info) {
  auto error = Napi::Error::New(env, info.message);
  error.Set("code", Napi::String::New(env, info.code));
  return error;
}

Napi::Error makeError(Napi::Env env, ErrorCode code, const std::string& message) {
  return makeError(env, ErrorInfo{errorCodeName(code), message});
}

}  // namespace kds::glue
