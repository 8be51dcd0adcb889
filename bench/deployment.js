#!/usr/bin/env node
'use strict';
// Deployment benchmark (BENCHMARKS.md "Deployment"): milliseconds per 256 x 256 x2 upscale of the demo's
// teacher (assets/teacher-edsr-x2.pt, EDSR r8f32) and an EDSR r3f16 student, in kds (LibTorch), in
// onnxruntime-node and in onnxruntime-web (WebAssembly, one thread, headless Chromium), one process, one
// machine; and the file sizes (state dict, ONNX float32, ONNX fp16). The student's weights are random
// (speed does not depend on them). Each timing is the median of --reps runs after one warm-up.
//
//   npm run bench:deploy [-- --reps N --threads N]
//
// Run it on a quiet machine. LibTorch and onnxruntime-node get the same thread count (default 1, as the
// browser's wasm build, which needs cross-origin isolation for threads, runs on one).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');
const SIZE = 256;
const CHROMIUM = process.env.KDS_CHROMIUM ?? '/usr/bin/chromium';

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function time(reps, fn) {
  await fn(); // warm-up
  const ms = [];
  for (let i = 0; i < reps; ++i) {
    const t = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(ms);
}

function picture() {
  const data = new Float32Array(3 * SIZE * SIZE);
  for (let i = 0; i < data.length; ++i) data[i] = (Math.sin(i * 0.013) * 0.5 + 0.5) * 255;
  return { data, shape: [1, 3, SIZE, SIZE] };
}

async function main() {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '10' }, threads: { type: 'string', default: '1' } } });
  const reps = Number(values.reps);
  const threads = Number(values.threads);
  const kds = require(path.join(ROOT, 'dist', 'index.js'));
  const ort = require('onnxruntime-node');
  const { chromium } = require('playwright-core');
  const { startServer } = await import(path.join(ROOT, 'examples', 'web', 'serve.mjs'));
  kds.setNumThreads(threads);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-deploy-'));
  const teacher = kds.models.edsr({ scale: 2, nResblocks: 8, nFeats: 32 });
  await teacher.loadStateDict(path.join(ROOT, 'assets', 'teacher-edsr-x2.pt'));
  kds.manualSeed(1);
  const student = kds.models.edsr({ scale: 2, nResblocks: 3, nFeats: 16 });
  const input = picture();
  const rows = [];
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    for (const [name, model] of [['teacher EDSR r8f32', teacher], ['student EDSR r3f16', student]]) {
      const pt = path.join(dir, 'model.pt');
      const onnx32 = path.join(dir, 'model.onnx');
      const onnx16 = path.join(dir, 'model-fp16.onnx');
      await model.saveStateDict(pt);
      await model.exportOnnx(onnx32);
      await model.exportOnnx(onnx16, { fp16: true });
      const libtorch = await time(reps, async () => (await model.forward(input)).output.dispose());
      const options = { intraOpNumThreads: threads, interOpNumThreads: 1 };
      const session = await ort.InferenceSession.create(onnx32, options);
      const tensor = new ort.Tensor('float32', input.data, input.shape);
      const node = await time(reps, () => session.run({ input: tensor }));
      await session.release();
      const session16 = await ort.InferenceSession.create(onnx16, options);
      const node16 = await time(reps, () => session16.run({ input: tensor }));
      await session16.release();
      const server = await startServer({ model: onnx32 });
      const page = await browser.newPage();
      await page.goto(server.url);
      await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 120_000 });
      const web = await page.evaluate(async ({ reps, size }) => {
        const rgba = new Uint8ClampedArray(size * size * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 7) % 256));
        await window.kdsUpscaleRgba(rgba, size, size);
        const ms = [];
        for (let i = 0; i < reps; ++i) {
          const t = performance.now();
          await window.kdsUpscaleRgba(rgba, size, size);
          ms.push(performance.now() - t);
        }
        ms.sort((a, b) => a - b);
        return ms[Math.floor(ms.length / 2)];
      }, { reps, size: SIZE });
      await page.close();
      await server.close();
      rows.push({ name, libtorch, node, node16, web, pt: fs.statSync(pt).size, onnx32: fs.statSync(onnx32).size, onnx16: fs.statSync(onnx16).size });
    }
  } finally {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const kb = (b) => (b / 1024).toFixed(0);
  console.log(`256 x 256 -> 512 x 512 (x2), median of ${reps} after a warm-up; ${threads} thread(s) for LibTorch and onnxruntime-node; onnxruntime-web wasm, 1 thread, ${CHROMIUM}`);
  console.log(`${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} logical cores, node ${process.version}, LibTorch ${kds.info().torchVersion}, onnxruntime-node ${require('onnxruntime-node/package.json').version}, onnxruntime-web ${JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve('onnxruntime-web')), '..', 'package.json'), 'utf8')).version}\n`);
  console.log('| model | kds (LibTorch) ms | onnxruntime-node ms | onnxruntime-node fp16 ms | onnxruntime-web (wasm) ms | state dict KiB | ONNX KiB | ONNX fp16 KiB |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows)
    console.log(`| ${r.name} | ${r.libtorch.toFixed(1)} | ${r.node.toFixed(1)} | ${r.node16.toFixed(1)} | ${r.web.toFixed(1)} | ${kb(r.pt)} | ${kb(r.onnx32)} | ${kb(r.onnx16)} |`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
