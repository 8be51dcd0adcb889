'use strict';
// `npm run check:cuda-build`: configures and compiles the addon against a CUDA LibTorch on a machine
// without a GPU, to prove the CUDA build works (CI machines and most laptops here have no GPU).
// It installs the CUDA `torch` wheel from pip (torch 2.14.1, CUDA 13) into .cuda-check/ (git-ignored),
// works around the configure pitfalls of libtorch-notes.md, builds into build-cuda/, and checks that the
// addon links LibTorch's CUDA libraries. It does not run anything on a GPU (see bench/gpu-check.sh).
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const site = path.join(root, '.cuda-check', 'python');
const TORCH_CUDA = process.env.KDS_CUDA_TORCH || 'torch==2.14.1';

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

function ensureWheel() {
  const torchDir = path.join(site, 'torch');
  if (!fs.existsSync(path.join(torchDir, 'lib', 'libtorch_cuda.so'))) {
    console.error(`check:cuda-build: installing ${TORCH_CUDA} (CUDA) and nvidia-cuda-nvrtc into ${site} ...`);
    const r = spawnSync('python3', ['-m', 'pip', 'install', '--no-deps', '--no-compile', '--disable-pip-version-check',
      '--target', site, TORCH_CUDA, 'nvidia-cuda-nvrtc'], { stdio: 'inherit' });
    if (r.status !== 0) fail('pip could not install the CUDA torch wheel');
  }
  if (!fs.existsSync(path.join(torchDir, 'lib', 'libtorch_cuda.so'))) fail(`${TORCH_CUDA} in ${site} is not a CUDA build`);
  return torchDir;
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
  console.error(`check:cuda-build: CUDA toolkit ${cuda}; LibTorch ${torchDir}; nvrtc ${nvrtc}`);
  const env = {
    ...process.env,
    LIBTORCH: torchDir,
    KDS_BUILD_DIR: path.join(root, 'build-cuda'),
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
  console.log(`check:cuda-build: OK: ${path.relative(root, addon)} links ${cudaLibs.join(', ')}`);
}

main();
