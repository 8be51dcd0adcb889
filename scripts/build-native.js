'use strict';
// Builds the addon with cmake-js against the LibTorch that scripts/libtorch.js finds (or installs).
// CMakeLists.txt is the one description of the build; binding.gyp forwards node-gyp here.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { findLibTorch, linkLibTorch } = require('./libtorch');
const { findGlooHeaders } = require('./gloo-headers');
const { checkGlooHeaders } = require('./gloo-check');
const { findCudaLibraryHeaders, findNcclHeaders } = require('./nccl-headers');

const root = path.resolve(__dirname, '..');

function main() {
  let torch;
  try {
    torch = findLibTorch();
  } catch (err) {
    console.error(`\nkds: cannot build the native addon: ${err.message}\n`);
    process.exit(1);
  }
  // A side build (KDS_BUILD_DIR, e.g. check:cuda-build's build-cuda/) is not the package's addon: it
  // leaves the package's .torch link alone and its RUNPATH names only its own LibTorch.
  const sideBuild = Boolean(process.env.KDS_BUILD_DIR);
  if (!sideBuild) linkLibTorch(torch);
  console.error(`kds: building against LibTorch from ${torch.source}: ${torch.root}`);
  const jobs = process.env.KDS_BUILD_JOBS || String(Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 4)));
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const out = process.env.KDS_BUILD_DIR ? path.resolve(process.env.KDS_BUILD_DIR) : path.join(root, 'build');
  const args = [cmakeJs, process.argv.includes('--rebuild') ? 'rebuild' : 'build', '--out', out,
    '--parallel', jobs, `--CDCMAKE_PREFIX_PATH=${torch.cmakePrefix}`];
  args.push(`--CDKDS_PACKAGE_RUNPATH=${sideBuild ? 'OFF' : 'ON'}`, ...distributedArgs(torch), ...ncclArgs(torch));
  if (process.env.KDS_CMAKE_ARGS) for (const a of process.env.KDS_CMAKE_ARGS.split(/\s+/).filter(Boolean)) args.push(`--CD${a.replace(/^-D/, '')}`);
  // `cmake-js build` configures only a fresh folder; when a -D value differs from the cache, configure first.
  if (args[1] === 'build' && cacheDiffers(out, args)) {
    const configured = spawnSync(process.execPath, [cmakeJs, 'configure', ...args.slice(2).filter((a) => a !== '--parallel' && a !== jobs)], { cwd: root, stdio: 'inherit' });
    if (configured.status !== 0) {
      console.error('\nkds: configuring the native build failed (see the output above).');
      process.exit(configured.status ?? 1);
    }
  }
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('\nkds: the native build failed (see the compiler output above).');
    process.exit(result.status ?? 1);
  }
}

function cacheDiffers(out, args) {
  let cache;
  try {
    cache = fs.readFileSync(path.join(out, 'CMakeCache.txt'), 'utf8');
  } catch {
    return false; // a fresh folder: cmake-js build configures it with these values
  }
  for (const a of args) {
    const m = /^--CD([^=]+)=(.*)$/.exec(a);
    if (!m) continue;
    const line = cache.split('\n').find((l) => l.startsWith(`${m[1]}:`));
    if (!line || line.slice(line.indexOf('=') + 1) !== m[2]) return true;
  }
  return false;
}

// Distributed training (c10d with Gloo) needs gloo's headers, and headers that fit the Gloo inside
// LibTorch (scripts/gloo-check.js); without them the addon is built without it and kds.setDistributed()
// says so. KDS_DISTRIBUTED=0 turns it off on purpose.
function distributedArgs(torch) {
  if (process.env.KDS_DISTRIBUTED === '0') return ['--CDKDS_DISTRIBUTED=OFF'];
  const gloo = findGlooHeaders();
  if (!gloo.includeDir) {
    console.error(`kds: building without distributed training support: ${gloo.reason}`);
    return ['--CDKDS_DISTRIBUTED=OFF'];
  }
  console.error(`kds: checking that the gloo headers in ${gloo.includeDir} fit LibTorch's Gloo (once per LibTorch) ...`);
  const fit = checkGlooHeaders(torch, gloo.includeDir);
  if (!fit.ok) {
    console.error(`kds: building without distributed training support: ${fit.reason}\n` +
      '  (see "Build" in docs/distributed.md; KDS_GLOO_INCLUDE can name headers from the Gloo commit LibTorch was built with)');
    return ['--CDKDS_DISTRIBUTED=OFF'];
  }
  console.error(`kds: gloo headers fit: ${fit.note}`);
  return ['--CDKDS_DISTRIBUTED=ON', `--CDKDS_GLOO_INCLUDE=${gloo.includeDir}`];
}

// A CUDA LibTorch gets the NCCL backend when nccl.h is found; without it the build goes on without NCCL
// and setDistributed({ backend: 'nccl' }) says how to get it. A CPU LibTorch has no ProcessGroupNCCL.
// KDS_NCCL=0 leaves NCCL out on purpose.
function ncclArgs(torch) {
  if (!fs.existsSync(path.join(torch.libDir, 'libtorch_cuda.so'))) return [];
  if (process.env.KDS_NCCL === '0') return ['--CDKDS_NCCL_INCLUDE='];
  const nccl = findNcclHeaders(torch.root);
  if (!nccl.includeDir) {
    console.error(`kds: building without the NCCL backend: ${nccl.reason}`);
    return ['--CDKDS_NCCL_INCLUDE='];
  }
  return [`--CDKDS_NCCL_INCLUDE=${nccl.includeDir}`, `--CDKDS_CUDA_LIBRARY_INCLUDE=${findCudaLibraryHeaders(torch.root) ?? ''}`];
}

main();
