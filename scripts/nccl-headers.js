'use strict';
// NCCL's header for the NCCL backend of CUDA builds. libtorch_cuda.so already contains ProcessGroupNCCL
// and links libnccl, but the torch wheel ships no nccl.h, which ProcessGroupNCCL.hpp includes. The
// `nvidia-nccl-cu13` pip wheel has it (in nvidia/nccl/include); pip installs it next to torch.
// ProcessGroupNCCL.hpp also needs the cuBLAS/cuSPARSE/cuSOLVER headers: a full CUDA toolkit has them, and
// so has a torch installed with its dependencies (nvidia/cu13/include); CMakeLists.txt looks in both.
const fs = require('node:fs');
const path = require('node:path');

const HOW_TO_GET =
  'install it next to the CUDA torch with `python3 -m pip install --no-deps nvidia-nccl-cu13` (or with --target ' +
  'into the folder that holds torch/), or set KDS_NCCL_INCLUDE to a folder holding nccl.h';

/**
 * Returns { includeDir } for a folder holding nccl.h (KDS_NCCL_INCLUDE, the nvidia-nccl wheel next to
 * `torchRoot`, or /usr/include), else { reason } saying why not and how to get it.
 */
function findNcclHeaders(torchRoot) {
  const fromEnv = process.env.KDS_NCCL_INCLUDE;
  if (fromEnv) return fs.existsSync(path.join(fromEnv, 'nccl.h')) ? { includeDir: fromEnv } : { reason: `KDS_NCCL_INCLUDE=${fromEnv} has no nccl.h` };
  const candidates = [path.join(torchRoot, '..', 'nvidia', 'nccl', 'include'), '/usr/include'];
  for (const dir of candidates) if (fs.existsSync(path.join(dir, 'nccl.h'))) return { includeDir: path.resolve(dir) };
  return { reason: `nccl.h not found in ${candidates.join(' or ')}: ${HOW_TO_GET}` };
}

/** The folder of pip's CUDA library headers next to `torchRoot` (KDS_CUDA_LIBRARY_INCLUDE first), or null. */
function findCudaLibraryHeaders(torchRoot) {
  if (process.env.KDS_CUDA_LIBRARY_INCLUDE) return process.env.KDS_CUDA_LIBRARY_INCLUDE;
  const dir = path.resolve(torchRoot, '..', 'nvidia', 'cu13', 'include');
  return fs.existsSync(path.join(dir, 'cublas_v2.h')) ? dir : null;
}

module.exports = { findNcclHeaders, findCudaLibraryHeaders };
