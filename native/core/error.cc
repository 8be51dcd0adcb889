#include "api/error.h"

namespace kds {

const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::Argument: return "E_ARG";
    case ErrorCode::Shape: return "E_SHAPE";
    case ErrorCode::State: return "E_STATE";
    case ErrorCode::File: return "E_FILE";
    case ErrorCode::Device: return "E_DEVICE";
    case ErrorCode::NonFinite: return "E_NAN";
    case ErrorCode::Internal: return "E_INTERNAL";
    case ErrorCode::Distributed: return "E_DIST";
  }
  return "E_INTERNAL";
}

}  // namespace kds
