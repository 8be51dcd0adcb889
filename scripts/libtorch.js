'use strict';
// Finds a LibTorch to build against, in the documented order:
//   1. $LIBTORCH: a LibTorch folder (libtorch zip, or a CUDA build),
//   2. the `torch` package importable by `python3`,
//   3. otherwise the CPU torch wheel, installed with pip into <package>/.libtorch (git-ignored).
// The wheel contains a complete LibTorch (include/, lib/, share/cmake/Torch).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const PACKAGE_ROOT = path.resolve(__dirname, '..');
const LOCAL_DIR = path.join(PACKAGE_ROOT, '.libtorch', 'python');
const CPU_WHEEL = 'torch==2.13.0+cpu';

class LibTorchNotFound extends Error {}

/** A LibTorch folder has share/cmake/Torch/TorchConfig.cmake and lib/. */
function describe(root, source) {
  const cmakeDir = path.join(root, 'share', 'cmake', 'Torch');
  if (!fs.existsSync(path.join(cmakeDir, 'TorchConfig.cmake'))) return null;
  return { root, source, cmakePrefix: path.join(root, 'share', 'cmake'), libDir: path.join(root, 'lib') };
}

function fromEnv() {
  const dir = process.env.LIBTORCH;
  if (!dir) return null;
  const found = describe(path.resolve(dir), 'LIBTORCH');
  if (!found) {
    throw new LibTorchNotFound(
      `LIBTORCH=${dir} is not a LibTorch folder: expected ${path.join(dir, 'share/cmake/Torch/TorchConfig.cmake')}.\n` +
        'Point LIBTORCH at an unpacked LibTorch (or at site-packages/torch of a torch wheel), or unset it.');
  }
  return found;
}

function torchDirFromPython(pythonPath) {
  const env = { ...process.env };
  if (pythonPath) env.PYTHONPATH = pythonPath;
  try {
    const out = execFileSync('python3', ['-c', 'import os, torch; print(os.path.dirname(torch.__file__))'], {
      env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out.trim().split('\n').pop();
  } catch {
    return null;
  }
}

function fromPython() {
  const dir = torchDirFromPython(null);
  return dir ? describe(dir, 'python3 torch') : null;
}

function fromLocal() {
  return describe(path.join(LOCAL_DIR, 'torch'), 'local wheel (.libtorch)');
}

function installLocal(log) {
  log(`kds: no LibTorch found; installing ${CPU_WHEEL} with pip into ${path.relative(process.cwd(), LOCAL_DIR) || LOCAL_DIR} ...`);
  // With its Python dependencies, so that the test fixtures can `import torch` from the same folder.
  // --retries 0: an unreachable index (offline machines with local mirrors) fails fast instead of backing off.
  const args = ['-m', 'pip', 'install', '--no-compile', '--disable-pip-version-check', '--retries', '0', '--target', LOCAL_DIR, CPU_WHEEL];
  try {
    execFileSync('python3', args, { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (err) {
    throw new LibTorchNotFound(
      `kds could not install LibTorch: 'python3 ${args.join(' ')}' failed (${err.message.split('\n')[0]}).\n` +
        'Fix: set LIBTORCH to a LibTorch folder, or make `python3 -c "import torch"` work, then run npm install again.');
  }
  const found = fromLocal();
  if (!found) throw new LibTorchNotFound(`pip finished but ${LOCAL_DIR}/torch has no share/cmake/Torch.`);
  return found;
}

/** Returns { root, source, cmakePrefix, libDir }; installs the CPU wheel when allowed and nothing else is found. */
function findLibTorch({ install = true, log = console.error } = {}) {
  const found = fromEnv() || fromPython() || fromLocal();
  if (found) return found;
  if (!install) throw new LibTorchNotFound('No LibTorch found: set LIBTORCH, install the torch Python package, or run npm install.');
  return installLocal(log);
}

/** PYTHONPATH under which `import torch` gives the torch kds was built against (for tests and benchmarks). */
function pythonPathForTorch() {
  return fs.existsSync(path.join(LOCAL_DIR, 'torch')) ? LOCAL_DIR : '';
}

module.exports = { findLibTorch, pythonPathForTorch, LibTorchNotFound, LOCAL_DIR };

if (require.main === module) {
  try {
    const t = findLibTorch();
    console.log(JSON.stringify(t, null, 2));
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
