#!/usr/bin/env bash
# Prepares what bench/gpu-check.sh needs on a lent GPU machine (no Node, no network there), in .devcarry/
# (git-ignored): node.xz (this machine's node binary, xz-compressed) and node_modules/ (the packages the
# build and the checks use, without TypeScript, type definitions and sharp's libvips: ~9 MB). With `dist`
# (npm run build:ts), carry `.devcarry` and `dist`: about 35 MB of the device tool's 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .devcarry
[ -f .devcarry/node.xz ] || xz -9 -T2 -c "$(command -v node)" > .devcarry/node.xz
rm -rf .devcarry/node_modules
cp -a node_modules .devcarry/node_modules
rm -rf .devcarry/node_modules/{typescript,@types,@img,sharp,prebuildify,.bin}
du -sh .devcarry/node.xz .devcarry/node_modules dist
