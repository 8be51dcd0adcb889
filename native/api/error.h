// Errors that cross from the core to JavaScript. Every failure the core reports is a kds::Error with a
// stable code; the glue turns it into a JS Error with `code` set (see lib/errors.ts).
#pragma once
#include <stdexcept>
#include <string>

namespace kds {

enum class ErrorCode {
  Argument,  // E_ARG: a bad option or argument value
  Shape,     // E_SHAPE: wrong rank, size, channel count, teacher/student mismatch
  State,     // E_STATE: call out of order (no teacher yet, disposed, busy)
  File,      // E_FILE: missing, unreadable, corrupt or wrong-kind file
  Device,    // E_DEVICE: unknown or unavailable device
  NonFinite, // E_NAN: NaN or Inf in inputs, loss or gradients
  Internal,  // E_INTERNAL: a LibTorch error we did not anticipate
  Distributed,  // E_DIST: a collective or rendezvous with the other ranks failed or timed out
};

const char* errorCodeName(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace kds
