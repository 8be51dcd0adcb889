#!/usr/bin/env bash
# Issue 20's quality side on a lent GPU machine: does a bf16 teacher (fp32 student) cost the student PSNR?
# The demo's study (teacher assets/teacher-edsr-x2.pt, student EDSR r3f16, 1000 steps, 3 seeds, the same
# photographs) with recipes ts and ts-bf16-teacher, on the GPU. Run it after bench/gpu-check.sh on the same
# warm machine (it reuses that build), carrying the photographs too:
#   run(command: "bash bench/gpu-study.sh", carry: [".devcarry", "dist", ".cache/photos"], timeout_s: 420)
# (npm run demo once here fills .cache/photos; bench/gpu-carry.sh checks that the carry fits.)
# KDS_STUDY_DEVICE, KDS_STUDY_RECIPES, KDS_STUDY_SEEDS and KDS_STUDY_STEPS change it (a CPU smoke run:
# KDS_STUDY_DEVICE=cpu KDS_STUDY_RECIPES=ts KDS_STUDY_SEEDS=1 KDS_STUDY_STEPS=20). Output in $OUT/study.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d)}"
source bench/gpu-node-env.sh
[ -d .cache/photos/train ] || { echo "gpu-study: no .cache/photos (run npm run demo once, then carry .cache/photos)" >&2; exit 1; }
if [ ! -e build/Release/kds.node ] && [ -d build-gpu/Release ]; then rm -rf build && mkdir -p build && ln -s ../build-gpu/Release build/Release; fi
start=$(date +%s)
node bin/kds.js study --teacher assets/teacher-edsr-x2.pt --train .cache/photos/train --test .cache/photos/eval \
  --device "${KDS_STUDY_DEVICE:-cuda}" --recipes "${KDS_STUDY_RECIPES:-ts,ts-bf16-teacher}" \
  --seeds "${KDS_STUDY_SEEDS:-1,2,3}" --steps "${KDS_STUDY_STEPS:-1000}" --out "$OUT/study"
echo "gpu-study: $(( $(date +%s) - start )) s"
