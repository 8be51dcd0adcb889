# Sourced by bench/gpu-check.sh and bench/gpu-study.sh on a lent GPU machine: puts the carried node on
# PATH and unpacks the carried node_modules (bench/gpu-carry.sh) where the package looks for them.
mkdir -p /tmp/kds-node/bin
[ -x /tmp/kds-node/bin/node ] || { xz -dc .devcarry/node.xz > /tmp/kds-node/bin/node && chmod +x /tmp/kds-node/bin/node; }
export PATH=/tmp/kds-node/bin:$PATH
if [ ! -d node_modules/cmake-js ] && [ -f .devcarry/node_modules.tar.xz ]; then
  rm -rf node_modules
  xz -dc .devcarry/node_modules.tar.xz | tar -xf -
fi
