'use strict';
// Finds the LibTorch kds builds against and runs with, in the documented order (README, "Where LibTorch
// comes from"):
//   1. $LIBTORCH: a LibTorch folder, the folder the official LibTorch zip was unpacked into, or a torch
//      package folder (site-packages/torch),
//   2. the `torch` package importable by python3 (or $KDS_PYTHON),
//   3. the shared per-user cache $XDG_CACHE_HOME/kds/libtorch-<version>-<variant> (default ~/.cache/kds),
//      which every project using kds reuses (and a checkout's old .libtorch/, from kds 0.1),
//   4. otherwise pip installs the CPU torch wheel (a complete LibTorch) into that cache.
// The package then links .torch -> the LibTorch found, which the addon's RUNPATH names: a prebuilt addon
// finds the LibTorch of the machine it is installed on.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PACKAGE_ROOT = path.resolve(__dirname, '..');
const TORCH_VERSION = '2.13.0';
const TORCH_VARIANT = 'cpu';
const CPU_WHEEL = `torch==${TORCH_VERSION}+${TORCH_VARIANT}`;
const DEFAULT_INDEX_URL = `https://download.pytorch.org/whl/${TORCH_VARIANT}`;
const MIN_PYTHON = [3, 10];
/** The link the addon's RUNPATH names ($ORIGIN/../../.torch/lib): the LibTorch this package uses. */
const LINK = path.join(PACKAGE_ROOT, '.torch');
/** Where kds 0.1 installed the wheel, inside the package; still used when it is there. */
const LEGACY_DIR = path.join(PACKAGE_ROOT, '.libtorch', 'python');

class LibTorchNotFound extends Error {}

function python() {
  return process.env.KDS_PYTHON || 'python3';
}

/** The shared cache folder for this LibTorch version and variant (a pip --target folder holding torch/). */
function cacheDir() {
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
  return path.join(base, 'kds', `libtorch-${TORCH_VERSION}-${TORCH_VARIANT}`);
}

/** A LibTorch folder has share/cmake/Torch/TorchConfig.cmake and lib/. */
function describe(root, source) {
  const cmakeDir = path.join(root, 'share', 'cmake', 'Torch');
  if (!fs.existsSync(path.join(cmakeDir, 'TorchConfig.cmake'))) return null;
  return { root, source, cmakePrefix: path.join(root, 'share', 'cmake'), libDir: path.join(root, 'lib') };
}

function fromEnv() {
  const dir = process.env.LIBTORCH;
  if (!dir) return null;
  const abs = path.resolve(dir);
  // The folder itself, the folder the zip was unpacked into (libtorch/), or site-packages (torch/).
  const found = describe(abs, 'LIBTORCH') || describe(path.join(abs, 'libtorch'), 'LIBTORCH') || describe(path.join(abs, 'torch'), 'LIBTORCH');
  if (!found) {
    throw new LibTorchNotFound(
      `LIBTORCH=${dir} is not a LibTorch folder: there is no share/cmake/Torch/TorchConfig.cmake in it, in ` +
        `${path.join(dir, 'libtorch')} or in ${path.join(dir, 'torch')}.\n` +
        'Point LIBTORCH at an unpacked LibTorch zip (or at site-packages/torch of a torch wheel), or unset it.');
  }
  return found;
}

/** python3's torch folder, or the reason there is none (shown when nothing else is found either). */
function fromPython(tried) {
  const r = spawnSync(python(), ['-c', 'import os, torch; print(os.path.dirname(torch.__file__))'], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000,
  });
  if (r.error) {
    tried.push(`${python()} was not found (${r.error.code ?? r.error.message})`);
    return null;
  }
  if (r.status !== 0) {
    tried.push(`${python()} cannot import torch`);
    return null;
  }
  const dir = r.stdout.trim().split('\n').pop();
  const found = describe(dir, `${python()}'s torch`);
  if (!found) tried.push(`${python()}'s torch (${dir}) has no share/cmake/Torch`);
  return found;
}

function fromCache(tried) {
  const found = describe(path.join(cacheDir(), 'torch'), 'the shared cache');
  if (!found) tried.push(`there is no LibTorch in the shared cache ${cacheDir()}`);
  return found;
}

function fromLegacy() {
  return describe(path.join(LEGACY_DIR, 'torch'), 'the package\'s .libtorch/ (kds 0.1)');
}

function howToProvide() {
  return [
    `Provide LibTorch ${TORCH_VERSION} in one of three ways, then run npm install again:`,
    '  1. LIBTORCH=/path/to/libtorch: unpack the LibTorch zip for Linux (C++ / LibTorch on',
    '     https://pytorch.org/get-started/locally/; CPU or CUDA) and point LIBTORCH at it;',
    `  2. make \`${python()} -c "import torch"\` work: ${python()} -m pip install torch==${TORCH_VERSION} --index-url ${DEFAULT_INDEX_URL}`,
    `  3. let kds install it with pip: needs Python ${MIN_PYTHON.join('.')}+ with pip (Debian/Ubuntu: sudo apt install python3-pip)`,
    `     and a package index that has ${CPU_WHEEL} (PyTorch's ${DEFAULT_INDEX_URL}, or KDS_TORCH_INDEX_URL,`,
    '     or pip\'s own configuration: PIP_INDEX_URL, PIP_FIND_LINKS, pip.conf).',
  ].join('\n');
}

/** Why pip cannot run here, or null. */
function pipUnusable() {
  // One interpreter start (pip's own --version takes seconds on a busy machine).
  const v = spawnSync(python(), ['-c', 'import sys, importlib.util; print("%d.%d" % sys.version_info[:2], importlib.util.find_spec("pip") is not None)'],
    { encoding: 'utf8', timeout: 60000 });
  if (v.error || v.status !== 0) return `${python()} was not found or does not run`;
  const [version, hasPip] = v.stdout.trim().split(' ');
  const [major, minor] = version.split('.').map(Number);
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    return `${python()} is Python ${version}; the ${CPU_WHEEL} wheel needs Python ${MIN_PYTHON.join('.')} or newer`;
  }
  if (hasPip !== 'True') return `${python()} has no pip (Debian/Ubuntu: sudo apt install python3-pip)`;
  return null;
}

/** Leftovers of interrupted installs by processes that are gone (each is up to ~750 MB). */
function removeStaleTemps(parent, base) {
  let names;
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    const m = new RegExp(`^${base.replace(/[.+]/g, '\\$&')}\\.tmp-(\\d+)$`).exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      fs.rmSync(path.join(parent, name), { recursive: true, force: true });
    }
  }
}

/** pip-installs the CPU wheel (with the Python packages `import torch` needs) into the shared cache. */
function installIntoCache(log, tried) {
  const unusable = pipUnusable();
  if (unusable) {
    tried.push(`kds cannot install it: ${unusable}`);
    return null;
  }
  const target = cacheDir();
  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  removeStaleTemps(parent, path.basename(target));
  // Installed beside the cache folder and renamed into place: an interrupted or concurrent install never
  // leaves a half-filled cache behind, and two installs racing both end with one complete copy.
  const temp = `${target}.tmp-${process.pid}`;
  const indexUrl = process.env.KDS_TORCH_INDEX_URL ?? DEFAULT_INDEX_URL;
  // --retries 0 and --timeout 15: an unreachable index fails within seconds instead of backing off for
  // minutes (pip's own settings, PIP_INDEX_URL, PIP_FIND_LINKS and pip.conf, still apply).
  const args = ['-m', 'pip', 'install', '--no-compile', '--disable-pip-version-check', '--no-input', '--retries', '0',
    '--timeout', '15', '--target', temp, ...(indexUrl ? ['--extra-index-url', indexUrl] : []), CPU_WHEEL];
  log(`kds: no LibTorch found; installing ${CPU_WHEEL} with pip into ${target} (about 750 MB, shared by every project) ...`);
  const r = spawnSync(python(), args, { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) {
    fs.rmSync(temp, { recursive: true, force: true });
    if (r.stderr) process.stderr.write(r.stderr);
    const last = (r.stderr || '').trim().split('\n').filter((l) => /error/i.test(l)).pop() ?? `exit status ${r.status}`;
    tried.push(`pip could not install ${CPU_WHEEL}: ${last.trim()}`);
    return null;
  }
  try {
    fs.renameSync(temp, target);
  } catch (err) {
    fs.rmSync(temp, { recursive: true, force: true });
    if (!fromCache([])) { // not another install finishing first: a broken cache folder is in the way
      tried.push(`pip installed it, but it could not be moved to ${target} (${err.code}): remove that folder and try again`);
      return null;
    }
  }
  const found = fromCache([]);
  if (!found) tried.push(`pip finished, but ${target}/torch has no share/cmake/Torch`);
  return found;
}

/**
 * Returns { root, source, cmakePrefix, libDir } of the LibTorch to use. With install (the default) pip
 * installs the CPU wheel into the shared cache when nothing is found; otherwise, or when that fails,
 * throws LibTorchNotFound with what was tried and the three ways to provide LibTorch.
 */
function findLibTorch({ install = true, log = console.error } = {}) {
  const env = fromEnv();
  if (env) return env;
  const tried = ['LIBTORCH is not set'];
  const found = fromPython(tried) || fromCache(tried) || fromLegacy() || (install ? installIntoCache(log, tried) : null);
  if (found) return found;
  throw new LibTorchNotFound(`kds found no LibTorch:\n  - ${tried.join('\n  - ')}\n${howToProvide()}`);
}

/** Points the package's .torch link (named by the addon's RUNPATH) at the LibTorch found. */
function linkLibTorch(found) {
  try {
    if (fs.existsSync(LINK) && fs.realpathSync(LINK) === fs.realpathSync(found.root)) return;
    fs.rmSync(LINK, { force: true, recursive: false });
    fs.symlinkSync(found.root, LINK, 'dir');
  } catch (err) {
    console.error(`kds: warning: could not link ${LINK} to ${found.root} (${err.message}); a prebuilt addon may not find LibTorch`);
  }
}

/**
 * PYTHONPATH under which `import torch` gives the torch kds uses (for the tests' Python references and
 * the benchmarks): the folder holding that torch when pip put it there, else '' (python3's own torch).
 */
function pythonPathForTorch() {
  let root;
  try {
    root = fs.realpathSync(LINK);
  } catch {
    if (fs.existsSync(path.join(LEGACY_DIR, 'torch'))) return LEGACY_DIR;
    const cached = path.join(cacheDir(), 'torch');
    return fs.existsSync(cached) ? cacheDir() : '';
  }
  const site = path.dirname(root);
  const isWheel = path.basename(root) === 'torch' && fs.readdirSync(site).some((f) => /^torch-.*\.dist-info$/.test(f));
  return isWheel ? site : '';
}

module.exports = { findLibTorch, linkLibTorch, pythonPathForTorch, cacheDir, LibTorchNotFound, TORCH_VERSION, TORCH_VARIANT };

if (require.main === module) {
  try {
    console.log(JSON.stringify(findLibTorch({ install: !process.argv.includes('--no-install') }), null, 2));
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
