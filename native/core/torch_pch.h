// Precompiled for every core file: LibTorch's headers dominate compile time (~30 s each without this).
#pragma once
#include <torch/script.h>
#include <torch/torch.h>
