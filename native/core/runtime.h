// Core-internal runtime helpers (LibTorch side).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>

#include "api/error.h"

namespace kds {

// Applies the thread count chosen with setNumThreads to the calling thread (OpenMP's count is per thread,
// and our work runs on libuv's pool threads).
void applyThreadSettings();

// Parses "cpu", "cuda", "cuda:N"; throws E_DEVICE when unknown or not available in this build/machine.
torch::Device parseDevice(const std::string& name);

// The message of a c10::Error without its C++ backtrace.
std::string torchMessage(const std::exception& e);

// Runs fn, turning LibTorch's exceptions into kds::Error(code, context + ": " + message).
template <typename F>
auto translateTorchErrors(ErrorCode code, const std::string& context, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(code, context + ": " + torchMessage(e));
  }
}

}  // namespace kds
