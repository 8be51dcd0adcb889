// Multiply-adds of whatever a piece of code runs, observed op by op: for models whose structure kds does
// not know (TorchScript). Counts convolutions (one per weight per output pixel) and matrix products
// (mm, addmm, bmm, baddbmm; matmul and linear reach these). Elementwise ops, biases, activations and pooling
// are not counted, like the analytic counts of the built-in models.
#pragma once
#include <cstdint>
#include <functional>

namespace kds {

// Runs `run` on this thread and returns the multiply-adds of the ops it dispatched. An op called inside a
// counted op (a backend kernel under aten::convolution) is not counted again.
int64_t countMultiplyAdds(const std::function<void()>& run);

}  // namespace kds
