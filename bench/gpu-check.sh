#!/usr/bin/env bash
# The prepared device check (issue 10): run on a lent GPU machine, which has python3 with a CUDA torch
# (2.11.0+cu130 when written), nvcc, CMake and ninja but no Node and no network. Prepare here with
# bench/gpu-carry.sh and `npm run build:ts`, then carry `.devcarry` and `dist`:
#   run(command: "bash bench/gpu-check.sh", carry: [".devcarry", "dist"], timeout_s: 540)
# It builds the addon against that machine's own CUDA LibTorch, runs the CUDA parity checks
# (bench/gpu-parity.mjs: fp32, bf16, fp16 with loss scaling, channels-last, cuDNN autotuning, fused vs
# plain SA), then the GPU benchmark kds vs PyTorch (bench/gpu-bench.js, with issue 20's anchor: PyTorch's fp32
# step under torch.compile, against which a bf16 teacher with an fp32 student should take at most 0.3) and,
# time permitting, the SA-loss benchmark (bench/sa_loss_cuda.py). Aims at under 8 minutes; logs go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d)}"
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }
source bench/gpu-node-env.sh
echo "node $(node --version); $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"

export LIBTORCH="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
CUDA_ROOT="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
NVRTC="$(python3 - <<'PY'
import glob, os, sys
for p in sys.path:
    for lib in glob.glob(os.path.join(p, 'nvidia', '*', 'lib', 'libnvrtc.so.*')) + glob.glob(os.path.join(p, 'nvidia', 'cuda_nvrtc', 'lib', 'libnvrtc.so.*')):
        print(lib); raise SystemExit
PY
)"
export KDS_BUILD_DIR=build-gpu KDS_BUILD_JOBS=16
export KDS_CMAKE_ARGS="-DCUDA_TOOLKIT_ROOT_DIR=$CUDA_ROOT -DCMAKE_CUDA_COMPILER=$CUDA_ROOT/bin/nvcc -DTORCH_CUDA_ARCH_LIST=9.0 ${NVRTC:+-DCUDA_nvrtc_LIBRARY=$NVRTC}"
echo "torch $(python3 -c 'import torch; print(torch.__version__)') at $LIBTORCH; CUDA $CUDA_ROOT"
node scripts/build-native.js > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
rm -rf build && mkdir -p build && ln -s ../build-gpu/Release build/Release   # node-gyp-build looks in build/Release
echo "build: $(elapsed) s"
node -e "const i = require('./dist').info(); console.log('kds info:', JSON.stringify({ torch: i.torchVersion, cuda: i.cudaAvailable, devices: i.cudaDevices }))"

set +e
status=0
timeout 180 node bench/gpu-parity.mjs 2>&1 | tee "$OUT/parity.log"; status=$(( status | ${PIPESTATUS[0]} ))
echo "parity: $(elapsed) s"
# The benchmark: the full grid if the time allows (~2 min), else FAKD's shape only.
quick=$([ "$(elapsed)" -gt 240 ] && echo --quick || true)
timeout 260 node bench/gpu-bench.js --device cuda --compile $quick 2>&1 | tee "$OUT/gpu-bench.log"; status=$(( status | ${PIPESTATUS[0]} ))
cp bench/results/gpu-bench-*.json "$OUT/" 2>/dev/null
echo "benchmark: $(elapsed) s"
if [ "$(elapsed)" -lt 390 ] && [ -f bench/sa_loss_cuda.py ]; then
  timeout $(( 510 - $(elapsed) )) python3 bench/sa_loss_cuda.py --quick 2>&1 | tee "$OUT/sa-loss.log"; status=$(( status | ${PIPESTATUS[0]} ))
else
  echo "sa_loss_cuda.py skipped: $(elapsed) s used"
fi
echo "total: $(elapsed) s"
exit $status
