#!/bin/bash
# CUDA smoke check of the model zoo, for a lent GPU machine (no Node there): builds main.cc with the core
# sources against the machine's CUDA LibTorch, makes references with its PyTorch, runs the check twice
# (TF32 convolutions off, then LibTorch's default, on). Run from the repository root: bash bench/zoo-cuda-check/run.sh
set -e
T=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__))")
ABI=$(python3 -c "import torch;print(int(torch._C._GLIBCXX_USE_CXX11_ABI))")
nvidia-smi -L; g++ --version | head -1; python3 -c "import torch; print('torch', torch.__version__)"
mkdir -p /tmp/o /tmp/d
SRCS="native/core/error.cc native/core/runtime.cc native/core/tensor.cc native/models/registry.cc native/models/spec_reader.cc native/models/blocks.cc native/models/edsr.cc
native/models/rcan.cc native/models/san_attention.cc native/models/san.cc native/models/op_counter.cc native/models/model.cc
native/models/torchscript_model.cc native/io/atomic_file.cc native/io/state_dict.cc native/io/python_pickle.cc native/io/torch_save.cc bench/zoo-cuda-check/main.cc"
start=$(date +%s)
for f in $SRCS; do
  g++ -std=c++17 -O1 -w -DNDEBUG -D_GLIBCXX_USE_CXX11_ABI=$ABI -Inative -isystem $T/include -isystem $T/include/torch/csrc/api/include \
    -c $f -o /tmp/o/$(echo $f | tr / _).o 2> /tmp/o/$(echo $f | tr / _).err || { echo "compile failed: $f"; head -30 /tmp/o/$(echo $f | tr / _).err; } &
done
wait
g++ /tmp/o/*.o -L$T/lib -Wl,-rpath,$T/lib -Wl,--no-as-needed -ltorch -ltorch_cuda -ltorch_cpu -lc10_cuda -lc10 -o /tmp/check
echo "compiled in $(( $(date +%s) - start )) s"
PYTHONWARNINGS=ignore python3 bench/zoo-cuda-check/gen.py /tmp/d
/tmp/check /tmp/d fp32 2>&1 | tee $OUT/check-fp32.log || true
/tmp/check /tmp/d 2>&1 | grep -E "TF32|output|FAIL|ALL" | tee $OUT/check-default.log
