// Shape checks shared by the image functions of the core (LibTorch side).
#pragma once
#include <torch/torch.h>

#include <string>

#include "api/error.h"
#include "api/tensor.h"

namespace kds {

// `t` as a [N, 3, H, W] view: accepts [N, 3, H, W] or [3, H, W] with H, W >= 1; E_SHAPE otherwise.
torch::Tensor imageBatch(const torch::Tensor& t, const std::string& what);

// Like imageBatch, and N must be 1.
torch::Tensor singleImage(const torch::Tensor& t, const std::string& what);

// uint8 or floating point, else E_ARG.
void checkImageDtype(const torch::Tensor& t, const std::string& what);

// Clamps to 0..255 and rounds halves away from zero (MATLAB's conversion to uint8); returns float64.
torch::Tensor roundToByteRange(const torch::Tensor& t);

}  // namespace kds
