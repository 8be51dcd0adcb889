// Fuzzing: random and mutated bytes (bit flips, overwrites, truncations, splices, damage inside zip entries
// with their CRCs fixed) fed to loadTorchScript, model.loadStateDict (zip and legacy torch.save files),
// kds.loadCheckpoint and readImage, in a child process. Every attempt must load or fail with a KDSError
// E_FILE: never a signal, never a hang. scripts/fuzz.js runs the same for longer. Then the crafted files
// that crashed or misreported in the past, kept as test cases.
import { test, before } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeSeeds, fuzz, FUZZ_MODEL } from '../scripts/robustness/fuzz-driver.mjs';
import { fixZipCrcs } from '../scripts/robustness/mutate.mjs';

const loadOnce = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'scripts', 'robustness', 'load-once.mjs');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-fuzz-test-'));
let seeds;

before(async () => {
  seeds = await makeSeeds(dir);
});

// Attempts per target in CI; scripts/fuzz.js --iterations N for more.
const BUDGET = { statedict: 150, checkpoint: 100, torchscript: 60, image: 60 };
// A mutated PNG can decode to a valid image with transparency, which readImage rejects as E_SHAPE.
const ALLOWED = { statedict: ['ok', 'E_FILE'], checkpoint: ['ok', 'E_FILE'], torchscript: ['ok', 'E_FILE'], image: ['ok', 'E_FILE', 'E_SHAPE'] };

for (const [target, iterations] of Object.entries(BUDGET)) {
  test(`fuzz ${target}: ${iterations} mutated files, each an E_FILE or a success`, async () => {
    const { outcomes, findings } = await fuzz({ target, seeds: seeds[target], runSeed: 20261128, iterations, workDir: dir });
    console.log(`fuzz ${target}: ${JSON.stringify(outcomes)}`);
    assert.deepEqual(findings.map((f) => `${f.kind} at ${f.index} (${f.mutation}): ${f.file}\n${f.stderr}`), []);
    const total = Object.values(outcomes).reduce((a, b) => a + b, 0);
    assert.equal(total, iterations);
    for (const outcome of Object.keys(outcomes)) assert.ok(ALLOWED[target].includes(outcome), `${target}: unexpected outcome ${outcome} (${JSON.stringify(outcomes)})`);
    assert.ok((outcomes.E_FILE ?? 0) > iterations / 4, `most mutations should be rejected: ${JSON.stringify(outcomes)}`);
  });
}

test('the fuzz driver reports a crashing child as a finding and carries on', async () => {
  const { outcomes, findings } = await fuzz({ target: 'crash-self-test', seeds: seeds.statedict, iterations: 4, workDir: dir });
  assert.deepEqual(findings.map((f) => [f.kind, f.index]), [['signal SIGSEGV', 1]]);
  assert.ok(fs.existsSync(findings[0].file));
  assert.deepEqual(outcomes, { ok: 3, 'signal SIGSEGV': 1 });
});

// ---- crafted files: each was a crash or a wrong error code before the fix named in docs/robustness.md ----

// Pickle opcodes, enough to write the objects torch.save writes.
const op = {
  str: (s) => Buffer.concat([Buffer.from('X'), u32(Buffer.byteLength(s)), Buffer.from(s)]),
  int: (v) => {
    const b = Buffer.alloc(10);
    b[0] = 0x8a;
    b[1] = 8;
    b.writeBigInt64LE(BigInt(v), 2);
    return b;
  },
  global: (module, name) => Buffer.from(`c${module}\n${name}\n`),
  raw: (s) => Buffer.from(s, 'latin1'),
};
function u32(v) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}
const pickle = (...parts) => Buffer.concat([Buffer.from([0x80, 0x02]), ...parts, Buffer.from('.')]);

// torch.save's legacy stream: magic, version, sys info, the object, the storage keys, the storages.
function legacyFile(objectPickle, storages = []) {
  const magic = pickle(Buffer.from([0x8a, 0x0a]), Buffer.from('6c fc 9c 46 f9 20 6a a8 50 19'.replace(/ /g, ''), 'hex'));
  const keys = pickle(op.raw('('), ...storages.map((s) => op.str(s.key)), op.raw('l'));
  const blocks = storages.map((s) => {
    const n = Buffer.alloc(8);
    n.writeBigInt64LE(BigInt(s.data.length));
    return Buffer.concat([n, Buffer.from(s.data.buffer)]);
  });
  return Buffer.concat([magic, pickle(op.raw('M\xe9\x03')), pickle(op.raw('}')), objectPickle, keys, ...blocks]);
}

// { 'w': a float tensor of `sizes`/`strides` over storage '0' that claims `storageNumel` elements }
function tensorDict({ sizes, strides, storageNumel, offset = 0 }) {
  const tuple = (xs) => Buffer.concat([op.raw('('), ...xs.map(op.int), op.raw('t')]);
  const persistentId = Buffer.concat([op.raw('('), op.str('storage'), op.global('torch', 'FloatStorage'), op.str('0'), op.str('cpu'), op.int(storageNumel), op.raw('tQ')]);
  const tensor = Buffer.concat([op.global('torch._utils', '_rebuild_tensor_v2'), op.raw('('), persistentId, op.int(offset), tuple(sizes), tuple(strides), op.raw('\x89}tR')]);
  return pickle(op.raw('('), op.str('w'), tensor, op.raw('d'));
}

// Loads `bytes` in a child process (a crash must not take the test runner with it): a KDSError E_FILE.
function expectFileError(bytes, name, kind = 'statedict') {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  const child = spawnSync(process.execPath, [loadOnce, kind, file, JSON.stringify(FUZZ_MODEL)], { encoding: 'utf8', timeout: 120000 });
  assert.equal(child.signal, null, `${name}: the loader died with ${child.signal}\n${child.stderr}`);
  assert.equal(child.status, 0, child.stderr);
  const outcome = JSON.parse(child.stdout.trim().split('\n').pop());
  assert.equal(outcome.name, 'KDSError', JSON.stringify(outcome));
  assert.equal(outcome.code, 'E_FILE', outcome.message);
}

test('crafted: a million nested lists (freed without recursion)', () => {
  const depth = 1_000_000;
  expectFileError(legacyFile(pickle(Buffer.alloc(depth, ']'), Buffer.alloc(depth - 1, 'a'))), 'nested.pt');
});

test('crafted: a tensor-subclass rebuild that refers to itself (bounded recursion)', () => {
  const rebuild = op.global('torch._tensor', '_rebuild_from_type_v2');
  // L = [rebuild, None, L]; then rebuild(*L) would call rebuild(*L) forever.
  const obj = pickle(op.raw(']\x94('), rebuild, op.raw('Nh\x00e'), rebuild, op.raw('h\x00R'));
  expectFileError(legacyFile(obj), 'self-rebuild.pt');
});

test('crafted: tensor sizes and strides whose extent overflows int64', () => {
  const data = new Float32Array(4);
  expectFileError(legacyFile(tensorDict({ sizes: [2n ** 62n + 1n], strides: [4], storageNumel: 4 }), [{ key: '0', data }]), 'overflow-extent.pt');
  expectFileError(legacyFile(tensorDict({ sizes: [2n ** 40n, 2n ** 40n, 0], strides: [1, 1, 1], storageNumel: 4 }), [{ key: '0', data }]), 'overflow-empty.pt');
});

test('crafted: a storage that claims more elements than it holds (size overflow)', () => {
  const data = new Float32Array(4);
  expectFileError(legacyFile(tensorDict({ sizes: [1], strides: [1], storageNumel: 2n ** 62n + 1n }), [{ key: '0', data }]), 'overflow-storage.pt');
});

test('crafted: truncated checkpoints (crashed torch::pickle_load before the zip check)', () => {
  const bytes = fs.readFileSync(seeds.checkpoint[0]);
  for (const fraction of [0.1, 0.5, 0.9, 0.99]) expectFileError(bytes.subarray(0, Math.floor(bytes.length * fraction)), `truncated-${fraction}.pt`, 'checkpoint');
});

test('crafted: a checkpoint and TorchScript files whose pickles nest a million lists (crashed LibTorch)', () => {
  for (const [name, kind] of [['deep_checkpoint.pt', 'checkpoint'], ['deep_script_data.pt', 'torchscript'], ['deep_script_constants.pt', 'torchscript']])
    expectFileError(fs.readFileSync(path.join(dir, name)), `copy-${name}`, kind);
});

test('crafted: a TorchScript record renamed out of its folder (found by scripts/fuzz.js, was E_INTERNAL)', () => {
  const bytes = Buffer.from(fs.readFileSync(seeds.torchscript[0]));
  const central = bytes.lastIndexOf('/version'); // its name in the central directory
  bytes[central] = '+'.charCodeAt(0); // 'script/version' -> 'script+version'
  expectFileError(bytes, 'renamed-record.pt', 'torchscript');
});

test('crafted: a checkpoint whose extra is not JSON, CRCs fixed (found by scripts/fuzz.js, was a SyntaxError)', () => {
  const bytes = Buffer.from(fs.readFileSync(seeds.checkpoint[0]));
  const at = bytes.indexOf('{"note":"fuzz seed"}');
  assert.ok(at > 0);
  bytes[at] = '#'.charCodeAt(0);
  expectFileError(fixZipCrcs(bytes), 'bad-extra.pt', 'checkpoint');
});

test('crafted: TorchScript files with damaged deflated code records (found by scripts/fuzz.js; crashed and hung torch::jit::load)', () => {
  const findings = path.join(path.dirname(loadOnce), '..', '..', 'test', 'fixtures', 'fuzz-findings');
  for (const name of ['torchscript-deflate-crash.pt', 'torchscript-deflate-hang.pt'])
    expectFileError(fs.readFileSync(path.join(findings, name)), `copy-${name}`, 'torchscript');
});

test('fixing the CRCs of an intact archive changes nothing (the zip-content mutation is sound)', () => {
  for (const file of [...seeds.statedict, ...seeds.checkpoint, ...seeds.torchscript]) {
    const bytes = fs.readFileSync(file);
    assert.ok(fixZipCrcs(Buffer.from(bytes)).equals(bytes), file);
  }
});
