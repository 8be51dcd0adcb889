// Runs the Python fixtures of test/fixtures/ with the torch kds was built against, and moves tensors
// between them and the tests as raw float32 files (`<name>.f32`, shape in the JSON; see fixture_io.py).
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { pythonPathForTorch } = require('../../scripts/libtorch.js');

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
// Bytecode caches (git-ignored). The torch kds installs is unpacked without .pyc files, and compiling
// its sources on every run costs several seconds per fixture (more when torch.optim pulls in dynamo).
const PYCACHE = fileURLToPath(new URL('../.cache/pycache/', import.meta.url));

/** The environment for python3 with the torch kds was built against. */
export function pythonEnv() {
  const torchPath = pythonPathForTorch();
  const inherited = process.env.PYTHONPATH;
  const PYTHONPATH = [torchPath, inherited].filter(Boolean).join(path.delimiter);
  const env = { ...process.env, PYTHONPATH, PYTHONPYCACHEPREFIX: PYCACHE };
  delete env.PYTHONDONTWRITEBYTECODE;
  // TorchScript prints deprecation warnings on every script/save; they would only bury real errors.
  env.PYTHONWARNINGS = 'ignore';
  // Under npm run test:sanitize node runs with the sanitizer runtime preloaded; the references are not
  // what is checked there, and an uninstrumented python with it preloaded only adds noise and time.
  delete env.LD_PRELOAD;
  return env;
}

/** The path of test/fixtures/<script>. */
export function fixturePath(script) {
  return path.join(FIXTURES, script);
}

const PYTHON_OPTIONS = { maxBuffer: 64 << 20, encoding: 'utf8' };

function pythonFailed(args, err, stderr) {
  const what = args[0] === '-c' ? 'an inline python3 -c script' : path.basename(args[0]);
  return new Error(`${what} failed (${err.status ?? err.code ?? err.signal}):\n${stderr}`);
}

/**
 * Runs python3 ARGS (a script's path, e.g. fixturePath(name), or '-c', CODE; then its arguments) with
 * pythonEnv(); resolves with its stdout, rejects with its stderr when it fails.
 */
export function runPython(args) {
  return new Promise((resolve, reject) => {
    execFile('python3', args, { ...PYTHON_OPTIONS, env: pythonEnv() }, (err, stdout, stderr) => {
      if (err) reject(pythonFailed(args, err, stderr));
      else resolve(stdout);
    });
  });
}

/** runPython, synchronously. */
export function runPythonSync(args) {
  try {
    return execFileSync('python3', args, { ...PYTHON_OPTIONS, env: pythonEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw pythonFailed(args, err, err.stderr);
  }
}

/**
 * Runs test/fixtures/<script> OUT_DIR JSON_ARGS and returns the parsed JSON file it wrote (`result`,
 * default result.json) in dir. Rejects with the script's stderr when it fails.
 */
export async function runFixture(script, dir, args = {}, { result = 'result.json' } = {}) {
  await runPython([fixturePath(script), dir, JSON.stringify(args)]);
  return readJson(dir, result);
}

export function readJson(dir, name) {
  return JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
}

/** A fresh temporary folder; remove it with removeDir when the test file is done. */
export function makeTempDir(label) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `kds-${label}-`));
}

export function removeDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Reads an entry { file, shape } written by fixture_io.save_tensor as { data: Float32Array, shape }. */
export function readTensor(dir, entry) {
  const bytes = fs.readFileSync(path.join(dir, entry.file));
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const numel = entry.shape.reduce((a, b) => a * b, 1);
  if (numel !== data.length) throw new Error(`${entry.file}: ${data.length} values for shape [${entry.shape}]`);
  return { data, shape: entry.shape };
}

/** Writes { data, shape } (or a kds Tensor) as <name>.f32 in dir; returns the entry for the fixtures. */
export function writeTensor(dir, name, tensor) {
  const data = tensor.data ?? tensor.toFloat32Array();
  const shape = [...tensor.shape];
  fs.writeFileSync(path.join(dir, `${name}.f32`), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  return { file: `${name}.f32`, shape };
}
