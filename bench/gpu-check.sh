#!/usr/bin/env bash
# The prepared device check (issue 10): run on a lent GPU machine, which has python3 with a CUDA torch,
# nvcc, CMake and ninja but no Node and no network. Carry `.devcarry` (node.xz: this machine's node
# binary, xz-compressed), `node_modules` and `dist`. It builds the addon against that machine's own CUDA
# LibTorch, runs the CUDA parity checks, then the GPU benchmark. Output goes to $OUT when set.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d)}"
start=$(date +%s)
mkdir -p /tmp/kds-node/bin
xz -dc .devcarry/node.xz > /tmp/kds-node/bin/node && chmod +x /tmp/kds-node/bin/node
export PATH=/tmp/kds-node/bin:$PATH
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
echo "build: $(( $(date +%s) - start )) s"

set +e
status=0
node bench/gpu-parity.mjs 2>&1 | tee "$OUT/parity.log"; status=$(( status | ${PIPESTATUS[0]} ))
echo "parity: $(( $(date +%s) - start )) s"
if [ -f bench/run.js ]; then
  node bench/run.js --device cuda --quick 2>&1 | tee "$OUT/bench.log"; status=$(( status | ${PIPESTATUS[0]} ))
fi
if [ -f bench/sa-loss.js ]; then
  node bench/sa-loss.js --device cuda 2>&1 | tee "$OUT/sa-loss.log"; status=$(( status | ${PIPESTATUS[0]} ))
fi
echo "total: $(( $(date +%s) - start )) s"
exit $status
