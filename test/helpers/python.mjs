// Runs the Python fixtures of test/fixtures/ with the torch kds was built against, and moves tensors
// between them and the tests as raw float32 files (`<name>.f32`, shape in the JSON; see fixture_io.py).
import { execFile } from 'node:child_process';
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
  return env;
}

/**
 * Runs test/fixtures/<script> OUT_DIR JSON_ARGS and returns the parsed JSON file it wrote (`result`,
 * default result.json) in dir. Rejects with the script's stderr when it fails.
 */
export function runFixture(script, dir, args = {}, { result = 'result.json' } = {}) {
  return new Promise((resolve, reject) => {
    execFile('python3', [path.join(FIXTURES, script), dir, JSON.stringify(args)],
      { env: pythonEnv(), maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
        if (err) {
          reject(new Error(`fixture ${script} failed (${err.code ?? err.signal}):\n${stderr}`));
          return;
        }
        try {
          resolve(readJson(dir, result));
        } catch (readErr) {
          reject(readErr);
        }
      });
  });
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
