// ONNX export against kds's own forward: EDSR, RCAN and SAN (small, with seeded noise on every weight so
// that SAN's zero-initialised non-local W and gamma count too) at scales 2, 3 and 4 on an odd 17 x 23
// batch of 2, run by onnxruntime-node (an independent runtime). "Relative" is max |onnx - kds| / max |kds|:
// under 1e-5 in float32 and 1e-2 with fp16. Then the TorchScript path (python3 torch.onnx), opsets,
// fixed sizes, tiled upscale of an .onnx file, the CLI, and bad input (a KDSError, no file left).
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KDSError, loadTorchScript, manualSeed, models, readImage, upscale, writeImage } from '../dist/index.js';
import { makeTempDir, pythonEnv, removeDir } from './helpers/python.mjs';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'kds.js');
const FIXTURE = fileURLToPath(new URL('./fixtures/onnx_weights.py', import.meta.url));

const RTOL = 1e-5;
const RTOL_FP16 = 1e-2;
const SHAPE = [2, 3, 17, 23];
const SMALL = {
  edsr: (scale) => ({ scale, nResblocks: 3, nFeats: 16, resScale: scale === 4 ? 0.1 : 1 }),
  rcan: (scale) => ({ scale, nResgroups: 2, nResblocks: 2, nFeats: 16, reduction: 4 }),
  san: (scale) => ({ scale, nResgroups: 2, nResblocks: 2, nFeats: 16, reduction: 4 }),
};

function image(shape, seed = 1) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; ++i) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data[i] = (s / 2147483648) * 255;
  }
  return { data, shape };
}

function relativeError(actual, expected) {
  assert.equal(actual.length, expected.length);
  let diff = 0, scale = 0;
  for (let i = 0; i < expected.length; ++i) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

async function runOnnx(file, input) {
  const session = await ort.InferenceSession.create(file);
  try {
    const r = await session.run({ input: new ort.Tensor('float32', input.data, input.shape) });
    return { data: r.output.data, dims: r.output.dims.map(Number) };
  } finally {
    await session.release();
  }
}

async function rejectsWith(promise, code, pattern) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof KDSError, `expected a KDSError, got ${err}`);
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

function runPython(job, dir) {
  const jobPath = path.join(dir, 'job.json');
  fs.writeFileSync(jobPath, JSON.stringify(job));
  execFileSync('python3', [FIXTURE, jobPath], { env: pythonEnv(), stdio: ['ignore', 'ignore', 'inherit'] });
}

function cli(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, KDS_NUM_THREADS: '1' } }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

let dir;
const built = {}; // `${arch}x${scale}` -> { model, pt }

before(async () => {
  dir = makeTempDir('onnx');
  const job = { perturb: [] };
  for (const arch of Object.keys(SMALL)) {
    for (const scale of [2, 3, 4]) {
      manualSeed(scale);
      const model = models[arch](SMALL[arch](scale));
      const pt = path.join(dir, `${arch}x${scale}.pt`);
      await model.saveStateDict(pt);
      job.perturb.push([pt, pt]);
      built[`${arch}x${scale}`] = { model, pt };
    }
  }
  runPython(job, dir);
  for (const { model, pt } of Object.values(built)) await model.loadStateDict(pt);
});

after(() => removeDir(dir));

describe('ONNX export: onnxruntime-node equals kds forward', () => {
  for (const arch of Object.keys(SMALL)) {
    for (const scale of [2, 3, 4]) {
      it(`${arch} x${scale}, float32 and fp16, on ${SHAPE.join(' x ')}`, async () => {
        const { model } = built[`${arch}x${scale}`];
        const input = image(SHAPE, scale);
        const expected = (await model.forward(input)).output.toFloat32Array();
        const file = path.join(dir, `${arch}x${scale}.onnx`);
        await model.exportOnnx(file);
        const out = await runOnnx(file, input);
        assert.deepEqual(out.dims, [2, 3, 17 * scale, 23 * scale]);
        const rel = relativeError(out.data, expected);
        assert.ok(rel < RTOL, `${arch} x${scale} float32: relative error ${rel}`);
        const half = path.join(dir, `${arch}x${scale}-fp16.onnx`);
        await model.exportOnnx(half, { fp16: true });
        assert.ok(fs.statSync(half).size < 0.6 * fs.statSync(file).size, 'fp16 weights take half the bytes');
        const relHalf = relativeError((await runOnnx(half, input)).data, expected);
        assert.ok(relHalf < RTOL_FP16, `${arch} x${scale} fp16: relative error ${relHalf}`);
        assert.ok(relHalf > 0, 'the fp16 graph computes in float16 (not a float32 copy)');
      });
    }
  }

  it('opsets 13 and 21 give the same output; a fixed size fixes the input', async () => {
    const { model } = built.sanx2;
    const input = image([1, 3, 9, 10]);
    const expected = (await model.forward(input)).output.toFloat32Array();
    for (const opset of [13, 21]) {
      const file = path.join(dir, `opset${opset}.onnx`);
      await model.exportOnnx(file, { opset });
      assert.ok(relativeError((await runOnnx(file, input)).data, expected) < RTOL, `opset ${opset}`);
    }
    const fixed = path.join(dir, 'fixed.onnx');
    await model.exportOnnx(fixed, { dynamicSize: false, height: 9, width: 10 });
    assert.ok(relativeError((await runOnnx(fixed, input)).data, expected) < RTOL);
    await assert.rejects(runOnnx(fixed, image([1, 3, 10, 10])), /dimension|Got invalid/i);
  });
});

describe('ONNX export of a TorchScript model (python3 torch.onnx)', () => {
  // torch.onnx needs the onnx package; it is installed here next to the tests when python3 lacks it.
  const site = path.join(ROOT, 'test', '.cache', 'python-onnx');
  before(() => {
    const env = pythonEnv();
    const importable = () => {
      try {
        execFileSync('python3', ['-c', 'import onnx'], { env: { ...env, PYTHONPATH: [env.PYTHONPATH, site].join(path.delimiter) }, stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    };
    if (!importable())
      execFileSync('python3', ['-m', 'pip', 'install', '--no-compile', '--disable-pip-version-check', '--retries', '0', '--target', site, 'onnx'], { stdio: ['ignore', 'ignore', 'inherit'] });
    assert.ok(importable(), 'python3 can import onnx');
  });

  it('a TorchScript student exports and equals its kds forward; without onnx the error says how to get it', async () => {
    const tiny = path.join(dir, 'tiny.pt');
    runPython({ tiny }, dir);
    const model = await loadTorchScript(tiny);
    const input = image([1, 3, 11, 13]);
    const expected = (await model.forward(input)).output.toFloat32Array();
    const file = path.join(dir, 'tiny.onnx');
    const saved = process.env.PYTHONPATH;
    process.env.PYTHONPATH = [saved, site].filter(Boolean).join(path.delimiter);
    try {
      await model.exportOnnx(file);
    } finally {
      if (saved === undefined) delete process.env.PYTHONPATH;
      else process.env.PYTHONPATH = saved;
    }
    const out = await runOnnx(file, input);
    assert.deepEqual(out.dims, [1, 3, 22, 26]);
    assert.ok(relativeError(out.data, expected) < RTOL);
    // the same export where python3 has torch but no onnx (the test site left off PYTHONPATH)
    const missing = path.join(dir, 'missing.onnx');
    let onnxElsewhere = true;
    try {
      execFileSync('python3', ['-c', 'import onnx'], { env: pythonEnv(), stdio: 'ignore' });
    } catch {
      onnxElsewhere = false;
    }
    if (!onnxElsewhere) {
      await rejectsWith(model.exportOnnx(missing), 'E_NATIVE', /pip install onnx/);
      assert.ok(!fs.existsSync(missing));
    }
  });
});

describe('upscale with an .onnx file', () => {
  it('tiled like the LibTorch upscale, and the same result', async () => {
    const { model } = built.edsrx3;
    const file = path.join(dir, 'up.onnx');
    await model.exportOnnx(file);
    const input = image([1, 3, 40, 37]);
    for (const options of [{ tile: 0 }, { tile: 16, overlap: 8 }]) {
      const expected = (await upscale(model, input, options)).toFloat32Array();
      const sr = await upscale(file, input, options);
      assert.deepEqual(sr.shape, [1, 3, 120, 111]);
      assert.ok(relativeError(sr.toFloat32Array(), expected) < RTOL, JSON.stringify(options));
    }
  });

  it('kds export and kds upscale --runtime onnx write the PNG kds upscale writes', async () => {
    const { model } = built.edsrx2;
    const weights = path.join(dir, 'cli-student.pt');
    await model.saveStateDict(weights);
    const photo = path.join(dir, 'photo.png');
    await writeImage(photo, image([1, 3, 24, 21]));
    const onnxFile = path.join(dir, 'cli-student.onnx');
    const arch = '--arch=edsr-r3f16';
    let r = await cli(['export', '--model', weights, arch, '--scale', '2', '--format', 'onnx', onnxFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cli-student\.onnx: \d+ bytes/);
    const viaOnnx = path.join(dir, 'onnx.png');
    const viaTorch = path.join(dir, 'torch.png');
    r = await cli(['upscale', '--runtime', 'onnx', '--model', onnxFile, photo, viaOnnx]);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['upscale', '--model', weights, arch, '--scale', '2', photo, viaTorch]);
    assert.equal(r.code, 0, r.stderr);
    const a = (await readImage(viaOnnx)).toFloat32Array();
    const b = (await readImage(viaTorch)).toFloat32Array();
    // both round float outputs to 8 bits: a value within 1e-5 of a rounding boundary may land one level apart
    let worst = 0;
    for (let i = 0; i < a.length; ++i) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    assert.ok(worst <= 1, `largest pixel difference ${worst}`);
  });
});

describe('ONNX export and run: bad input', () => {
  it('NaN weights: E_NAN, no file', async () => {
    const { model, pt } = built.edsrx2;
    const nanFile = path.join(dir, 'nan.pt');
    runPython({ nan: [[pt, nanFile]] }, dir);
    manualSeed(2);
    const broken = models.edsr(SMALL.edsr(2));
    await broken.loadStateDict(nanFile);
    const target = path.join(dir, 'nan.onnx');
    await rejectsWith(broken.exportOnnx(target), 'E_NAN', /head\.0\.weight/);
    assert.ok(!fs.existsSync(target));
    assert.ok(model); // the good model is untouched
  });

  it('an opset the writer cannot produce, unknown options, a path that is not .onnx: E_ARG, no file', async () => {
    const { model } = built.edsrx2;
    const target = path.join(dir, 'bad.onnx');
    for (const opset of [7, 12, 22, 17.5, '17']) await rejectsWith(model.exportOnnx(target, { opset }), 'E_ARG', /opset/);
    await rejectsWith(model.exportOnnx(target, { format: 'tflite' }), 'E_ARG', /unknown option 'format'/);
    await rejectsWith(model.exportOnnx(target, { dynamicSize: false }), 'E_ARG', /height/);
    await rejectsWith(model.exportOnnx(path.join(dir, 'model.tflite')), 'E_ARG', /\.onnx/);
    assert.ok(!fs.existsSync(target));
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  });

  it('a path in a missing folder: E_FILE', async () => {
    const target = path.join(dir, 'no-such-folder', 'student.onnx');
    await rejectsWith(built.edsrx2.model.exportOnnx(target), 'E_FILE', /does not exist/);
    assert.ok(!fs.existsSync(path.dirname(target)));
  });

  it('an .onnx file that is not ONNX, or missing, passed to upscale: E_FILE; no output written', async () => {
    const fake = path.join(dir, 'fake.onnx');
    fs.writeFileSync(fake, 'this is not a protobuf');
    const output = path.join(dir, 'fake-out.png');
    await rejectsWith(upscale(fake, image([1, 3, 8, 8]), output), 'E_FILE', /not an ONNX model/);
    await rejectsWith(upscale(path.join(dir, 'absent.onnx'), image([1, 3, 8, 8]), output), 'E_FILE', /does not exist/);
    await rejectsWith(upscale(path.join(dir, 'weights.pt'), image([1, 3, 8, 8])), 'E_ARG', /\.onnx/);
    assert.ok(!fs.existsSync(output));
  });

  it('the CLI: an unknown --format is a usage error and writes nothing', async () => {
    const target = path.join(dir, 'cli-bad.onnx');
    const r = await cli(['export', '--model', built.edsrx2.pt, '--arch', 'edsr-r3f16', '--format', 'tflite', target]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /unknown --format 'tflite'/);
    assert.ok(!fs.existsSync(target));
  });
});
