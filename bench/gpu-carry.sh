#!/usr/bin/env bash
# Prepares what bench/gpu-check.sh and bench/gpu-study.sh need on a lent GPU machine (no Node, no network
# there), in .devcarry/ (git-ignored): node.xz (this machine's node binary) and node_modules.tar.xz (the
# package's production dependencies, which the build, the checks and sharp's image loading use; without
# the optional onnxruntime-node, which only .onnx upscaling loads, and type definitions).
# With `dist` (npm run build:ts), carry `.devcarry` and `dist` (and `.cache/photos` for gpu-study.sh):
# the device tool takes 64 MiB in all, and this script fails when the carry would not fit.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .devcarry
rm -rf .devcarry/node_modules  # the uncompressed copy of an earlier version of this script
[ -f .devcarry/node.xz ] || xz -9 -T2 -c "$(command -v node)" > .devcarry/node.xz
npm ls --omit=dev --omit=optional --parseable --all 2>/dev/null | sed "s#^$PWD/##" | grep '^node_modules/' |
  grep -v '^node_modules/@types/' | sort -u > .devcarry/modules.txt
tar -cf - --no-recursion -T <(while read -r dir; do find "$dir" -path "$dir/node_modules" -prune -o -print; done < .devcarry/modules.txt) |
  xz -6 -T2 > .devcarry/node_modules.tar.xz
rm .devcarry/modules.txt
du -sh .devcarry/node.xz .devcarry/node_modules.tar.xz dist .cache/photos 2>/dev/null || true
total=$(du -scb .devcarry dist .cache/photos 2>/dev/null | tail -1 | cut -f1)
echo "carry with .cache/photos: $((total / 1048576)) MiB of 64"
[ "$total" -lt $((60 * 1048576)) ] || { echo "gpu-carry: the carry would not fit in the device tool's 64 MiB" >&2; exit 1; }
