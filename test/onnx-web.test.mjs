// The web example (examples/web) in a real browser: headless Chromium (Debian's `chromium`, driven by
// playwright-core) loads an exported student with onnxruntime-web (WebAssembly) from the example's own
// static server on 127.0.0.1, a picture is chosen through the page's file input, and the student's output
// pixels on the page equal those `kds upscale` (LibTorch) writes for the same picture: at most one level
// of 255 apart (both round a float result to 8 bits; values within float noise of a .5 boundary may
// round apart), and the same size. The bicubic panel is the browser's own resampling, checked for size.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { manualSeed, models, readImage, writeImage } from '../dist/index.js';
import { startServer } from '../examples/web/serve.mjs';
import { makeTempDir, removeDir } from './helpers/python.mjs';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = process.env.KDS_CHROMIUM ?? '/usr/bin/chromium';

function cli(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin', 'kds.js'), ...args], { cwd: ROOT, env: { ...process.env, KDS_NUM_THREADS: '1' } },
      (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

/** A smooth picture with some edges: gradients plus a few rectangles. */
function picture(height, width) {
  const data = new Float32Array(3 * height * width);
  for (let c = 0; c < 3; ++c)
    for (let y = 0; y < height; ++y)
      for (let x = 0; x < width; ++x) {
        const edge = (x > width / 3 && x < (2 * width) / 3 && y > height / 4) ? 90 : 0;
        data[(c * height + y) * width + x] = Math.min(255, (40 + 5 * x + 3 * y + 30 * c + edge) % 256);
      }
  return { data, shape: [1, 3, height, width] };
}

let dir, server, browser;

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `the browser test needs Chromium at ${CHROMIUM}: apt-get install -y chromium (or set KDS_CHROMIUM)`);
  dir = makeTempDir('onnx-web');
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.close();
  if (dir) removeDir(dir);
});

describe('examples/web in headless Chromium', () => {
  it("the page's student output equals kds upscale's pixels", async (t) => {
    manualSeed(3);
    const student = models.edsr({ scale: 2, nResblocks: 3, nFeats: 16 });
    const weights = path.join(dir, 'student.pt');
    await student.saveStateDict(weights);
    const onnxFile = path.join(dir, 'student.onnx');
    let r = await cli(['export', '--model', weights, '--arch', 'edsr-r3f16', '--scale', '2', onnxFile]);
    assert.equal(r.code, 0, r.stderr);
    const photo = path.join(dir, 'photo.png');
    await writeImage(photo, picture(27, 34));
    const expectedPng = path.join(dir, 'kds.png');
    r = await cli(['upscale', '--model', weights, '--arch', 'edsr-r3f16', '--scale', '2', '--tile', '0', photo, expectedPng]);
    assert.equal(r.code, 0, r.stderr);
    const expected = (await readImage(expectedPng)).toFloat32Array();

    server = await startServer({ model: onnxFile });
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 60_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready', await page.textContent('#status'));
    await page.setInputFiles('#file', photo);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 60_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'done', await page.textContent('#status'));
    const shown = await page.evaluate(() => {
      const read = (id) => {
        const c = document.getElementById(id);
        return { width: c.width, height: c.height, rgba: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data) };
      };
      return { student: read('student'), bicubic: read('bicubic') };
    });
    assert.deepEqual(errors, []);
    assert.deepEqual([shown.student.height, shown.student.width], [54, 68]);
    assert.deepEqual([shown.bicubic.height, shown.bicubic.width], [54, 68]);
    const plane = 54 * 68;
    let worst = 0, differing = 0;
    for (let i = 0; i < plane; ++i)
      for (let c = 0; c < 3; ++c) {
        const d = Math.abs(shown.student.rgba[4 * i + c] - expected[c * plane + i]);
        worst = Math.max(worst, d);
        if (d > 0) differing += 1;
      }
    t.diagnostic(`largest difference ${worst} level(s); ${differing} of ${3 * plane} values differ`);
    assert.ok(worst <= 1, `largest difference ${worst} levels`);
    assert.ok(differing < 0.01 * 3 * plane, `${differing} values differ by one level`);
  });
});
