#include "models/op_counter.h"

#include <ATen/record_function.h>

#include <cstring>
#include <memory>

namespace kds {
namespace {

struct Tally {
  int64_t macs = 0;
  int depth = 0;  // counted ops entered and not yet left
};
thread_local Tally* tally = nullptr;

enum class Kind { None, Convolution, MatrixProduct };

Kind kindOf(const char* name) {
  if (!std::strcmp(name, "aten::convolution") || !std::strcmp(name, "aten::_convolution")) return Kind::Convolution;
  for (const char* product : {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"})
    if (!std::strcmp(name, product)) return Kind::MatrixProduct;
  return Kind::None;
}

// What a counted op's start callback learnt: its inputs are only readable there, its output only at the end.
struct Counted : at::ObserverContext {
  int64_t macs = 0;            // known from the inputs alone (matrix products, transposed convolutions)
  int64_t perOutputElement = 0;  // convolutions: multiply-adds per output element
};

std::unique_ptr<Counted> fromInputs(Kind kind, const at::RecordFunction& fn) {
  auto counted = std::make_unique<Counted>();
  const auto inputs = fn.inputs();
  if (kind == Kind::Convolution) {
    // (input, weight, bias, stride, padding, dilation, transposed, ...): each output element meets
    // weight.numel() / out_channels weights; a transposed conv, each input element (weight is [in, out/g, ...]).
    if (inputs.size() < 7 || !inputs[0].isTensor() || !inputs[1].isTensor()) return counted;
    const auto& weight = inputs[1].toTensor();
    if (weight.dim() < 1 || weight.size(0) == 0) return counted;
    const int64_t perElement = weight.numel() / weight.size(0);
    if (inputs[6].isBool() && inputs[6].toBool()) counted->macs = inputs[0].toTensor().numel() * perElement;
    else counted->perOutputElement = perElement;
  } else {
    // mm(a, b) / bmm(a, b); addmm(c, a, b) / baddbmm(c, a, b): (batch x) n x k times k x m.
    const size_t first = inputs.size() >= 3 && inputs[2].isTensor() ? 1 : 0;
    if (inputs.size() < first + 2 || !inputs[first].isTensor() || !inputs[first + 1].isTensor()) return counted;
    counted->macs = inputs[first].toTensor().numel() * inputs[first + 1].toTensor().size(-1);
  }
  return counted;
}

std::unique_ptr<at::ObserverContext> onEnter(const at::RecordFunction& fn) {
  if (!tally) return nullptr;
  const Kind kind = kindOf(fn.name());
  if (kind == Kind::None) return nullptr;
  ++tally->depth;
  if (tally->depth > 1) return std::make_unique<Counted>();  // inside a counted op: already counted
  return fromInputs(kind, fn);
}

void onExit(const at::RecordFunction& fn, at::ObserverContext* context) {
  if (!tally || !context) return;
  auto* counted = static_cast<Counted*>(context);
  if (tally->depth == 1) {
    tally->macs += counted->macs;
    const auto& outputs = fn.outputs();
    if (counted->perOutputElement && !outputs.empty() && outputs[0].isTensor())
      tally->macs += outputs[0].toTensor().numel() * counted->perOutputElement;
  }
  --tally->depth;
}

}  // namespace

int64_t countMultiplyAdds(const std::function<void()>& run) {
  Tally local;
  Tally* previous = tally;
  tally = &local;
  auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(onEnter, onExit).needsInputs(true).needsOutputs(true).scopes({at::RecordScope::FUNCTION}));
  try {
    run();
  } catch (...) {
    at::removeCallback(handle);
    tally = previous;
    throw;
  }
  at::removeCallback(handle);
  tally = previous;
  return local.macs;
}

}  // namespace kds
