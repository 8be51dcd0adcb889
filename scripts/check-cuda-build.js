'use strict';
// `npm run check:cuda-build`: configures and compiles the addon against a CUDA LibTorch on a machine
// without a GPU, to prove the CUDA build works (CI machines and most laptops here have no GPU).
// It installs the CUDA `torch` wheel from pip (torch 2.14.1, CUDA 13) and the NCCL wheel (for nccl.h, which the
// NCCL backend compiles against) into .cuda-check/ (git-ignored),
// works around the configure pitfalls of libtorch-notes.md, builds into build-cuda/, and checks that the
// addon links LibTorch's CUDA libraries. It does not run anything on a GPU (see bench/gpu-check.sh).
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const site = path.join(root, '.cuda-check', 'python');
const TORCH_CUDA = process.env.KDS_CUDA_TORCH || 'torch==2.14.1';
const NCCL_WHEEL = process.env.KDS_CUDA_NCCL || 'nvidia-nccl-cu13';
// ProcessGroupNCCL.hpp includes ATen/cuda/CUDAContext.h, which includes the cuBLAS, cuSPARSE and cuSOLVER
// headers; a minimal CUDA toolkit lacks them. These are the versions torch 2.14.1's cuda-toolkit 13.0.3 pins.
const CUDA_LIBRARY_HEADER_WHEELS = ['nvidia-cublas==13.1.1.3.*', 'nvidia-cusparse==12.6.3.3.*', 'nvidia-cusolver==12.0.4.66.*'];

function fail(message) {
  console.error(`check:cuda-build: ${message}`);
  process.exit(1);
}

function cudaRoot() {
  if (process.env.CUDA_HOME) return process.env.CUDA_HOME;
  let nvcc;
  try {
    nvcc = execFileSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' }).trim();
  } catch {
    fail('nvcc not found: install a CUDA toolkit or set CUDA_HOME');
  }
  // The nvcc on PATH may be a small wrapper script that execs the real one; CMake would then guess the
  // wrong toolkit folder, so follow the wrapper.
  const text = fs.readFileSync(nvcc, 'latin1');
  const match = text.startsWith('#!') ? text.match(/exec\s+(\S+\/bin\/nvcc)/) : null;
  const real = match ? match[1] : fs.realpathSync(nvcc);
  return path.dirname(path.dirname(real));
}

// pip install --target skips a top-level folder that already exists (nvidia/ holds nvrtc and NCCL
// alike), so each install goes to a fresh folder that is then merged into the site folder.
function pipInstall(packages, what) {
  const staging = `${site}.staging`;
  fs.rmSync(staging, { recursive: true, force: true });
  console.error(`check:cuda-build: installing ${packages.join(', ')} into ${site} ...`);
  const r = spawnSync('python3', ['-m', 'pip', 'install', '--no-deps', '--no-compile', '--disable-pip-version-check',
    '--target', staging, ...packages], { stdio: 'inherit' });
  if (r.status !== 0) fail(`pip could not install ${what}`);
  fs.cpSync(staging, site, { recursive: true });
  fs.rmSync(staging, { recursive: true, force: true });
}

function ensureWheel() {
  const torchDir = path.join(site, 'torch');
  if (!fs.existsSync(path.join(torchDir, 'lib', 'libtorch_cuda.so'))) pipInstall([TORCH_CUDA, 'nvidia-cuda-nvrtc'], 'the CUDA torch wheel');
  if (!fs.existsSync(path.join(torchDir, 'lib', 'libtorch_cuda.so'))) fail(`${TORCH_CUDA} in ${site} is not a CUDA build`);
  return torchDir;
}

// nccl.h for the NCCL backend (libtorch_cuda.so brings NCCL itself).
function ensureNcclHeader() {
  const includeDir = path.join(site, 'nvidia', 'nccl', 'include');
  if (!fs.existsSync(path.join(includeDir, 'nccl.h'))) pipInstall([NCCL_WHEEL], 'the NCCL wheel');
  if (!fs.existsSync(path.join(includeDir, 'nccl.h'))) fail(`${NCCL_WHEEL} in ${site} has no nvidia/nccl/include/nccl.h`);
  return includeDir;
}

// Only the include/ folders of `packages` (their libraries are big and the build needs none of them).
function installHeaders(packages, what) {
  const staging = `${site}.staging`;
  fs.rmSync(staging, { recursive: true, force: true });
  console.error(`check:cuda-build: downloading ${packages.join(', ')} for their headers ...`);
  const r = spawnSync('python3', ['-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '-d', staging, ...packages], { stdio: 'inherit' });
  if (r.status !== 0) fail(`pip could not download ${what}`);
  const unzip = spawnSync('python3', ['-c', [
    'import sys, zipfile',
    'for wheel in sys.argv[2:]:',
    '    z = zipfile.ZipFile(wheel)',
    "    z.extractall(sys.argv[1], [n for n in z.namelist() if '/include/' in n])",
  ].join('\n'), site, ...fs.readdirSync(staging).filter((f) => f.endsWith('.whl')).map((f) => path.join(staging, f))], { stdio: 'inherit' });
  fs.rmSync(staging, { recursive: true, force: true });
  if (unzip.status !== 0) fail(`could not unpack the headers of ${what}`);
}

// The folder with cublas_v2.h, cusparse.h and cusolverDn.h: the CUDA toolkit's, else the pip wheels'.
function ensureCudaLibraryHeaders(cuda) {
  const has = (dir) => ['cublas_v2.h', 'cublasLt.h', 'cusparse.h', 'cusolverDn.h'].every((h) => fs.existsSync(path.join(dir, h)));
  if (has(path.join(cuda, 'include'))) return null;
  const includeDir = path.join(site, 'nvidia', 'cu13', 'include');
  if (!has(includeDir)) installHeaders(CUDA_LIBRARY_HEADER_WHEELS, 'the cuBLAS/cuSPARSE/cuSOLVER wheels');
  if (!has(includeDir)) fail(`the cuBLAS/cuSPARSE/cuSOLVER headers are not in ${includeDir}`);
  return includeDir;
}

function findNvrtc() {
  const candidates = [path.join(site, 'nvidia', 'cu13', 'lib'), path.join(site, 'nvidia', 'cuda_nvrtc', 'lib')];
  for (const dir of candidates) {
    if (!fs.existsSync(dir)) continue;
    const lib = fs.readdirSync(dir).find((f) => /^libnvrtc\.so\.\d+$/.test(f));
    if (lib) return path.join(dir, lib);
  }
  fail(`libnvrtc.so.* not found under ${site}/nvidia`);
}

function main() {
  const cuda = cudaRoot();
  const torchDir = ensureWheel();
  const nvrtc = findNvrtc();
  const ncclInclude = ensureNcclHeader();
  const libraryHeaders = ensureCudaLibraryHeaders(cuda);
  console.error(`check:cuda-build: CUDA toolkit ${cuda}; LibTorch ${torchDir}; nvrtc ${nvrtc}; nccl.h in ${ncclInclude}` +
    (libraryHeaders ? `; cuBLAS/cuSPARSE/cuSOLVER headers in ${libraryHeaders}` : ''));
  const env = {
    ...process.env,
    LIBTORCH: torchDir,
    KDS_BUILD_DIR: path.join(root, 'build-cuda'),
    KDS_NCCL_INCLUDE: ncclInclude,
    ...(libraryHeaders ? { KDS_CUDA_LIBRARY_INCLUDE: libraryHeaders } : {}),
    PATH: `${path.join(cuda, 'bin')}:${process.env.PATH}`,
    KDS_CMAKE_ARGS: [
      `-DCUDA_TOOLKIT_ROOT_DIR=${cuda}`,
      `-DCMAKE_CUDA_COMPILER=${path.join(cuda, 'bin', 'nvcc')}`,
      '-DTORCH_CUDA_ARCH_LIST=8.0;9.0',
      `-DCUDA_nvrtc_LIBRARY=${nvrtc}`,
    ].join(' '),
  };
  const r = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js')], { cwd: root, env, stdio: 'inherit' });
  if (r.status !== 0) fail('the CUDA build failed');
  const addon = path.join(root, 'build-cuda', 'Release', 'kds.node');
  const needed = execFileSync('readelf', ['-d', addon], { encoding: 'utf8' });
  const cudaLibs = needed.split('\n').filter((l) => /NEEDED/.test(l) && /cuda/.test(l)).map((l) => l.replace(/.*\[(.*)\].*/, '$1'));
  if (cudaLibs.length === 0) fail(`${addon} does not link any LibTorch CUDA library`);
  const symbols = execFileSync('nm', ['-C', addon], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (!symbols.includes('kds::dist::connectNccl')) fail(`${addon} was built without the NCCL backend (see the configure output above)`);
  console.log(`check:cuda-build: OK: ${path.relative(root, addon)} links ${cudaLibs.join(', ')} and has the NCCL backend`);
}

main();
