// The page's logic: load /student.onnx with onnxruntime-web (wasm), upscale a dropped picture, show the
// browser's bicubic resampling beside the student's output. The page's state is on <body data-state>
// (loading, ready, running, done, error) so that a test can wait for it.
/* global ort */
ort.env.wasm.wasmPaths = '/ort/';
ort.env.wasm.numThreads = 1; // threads need cross-origin isolation; one thread works everywhere

const status = document.getElementById('status');
let session;

function setState(state, text) {
  document.body.dataset.state = state;
  status.textContent = text;
}

/** RGBA bytes -> float32 [1, 3, h, w] on 0..255. */
function toPlanar({ data, width, height }) {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; ++i) {
    out[i] = data[4 * i];
    out[plane + i] = data[4 * i + 1];
    out[2 * plane + i] = data[4 * i + 2];
  }
  return out;
}

/** float32 [1, 3, h, w] -> ImageData, rounded and clamped to 0..255 as kds writes PNGs. */
function toImageData(values, width, height) {
  const plane = width * height;
  const image = new ImageData(width, height);
  for (let i = 0; i < plane; ++i) {
    for (let c = 0; c < 3; ++c) image.data[4 * i + c] = Math.min(255, Math.max(0, Math.round(values[c * plane + i])));
    image.data[4 * i + 3] = 255;
  }
  return image;
}

async function upscale(bitmap) {
  const { width, height } = bitmap;
  const source = new OffscreenCanvas(width, height).getContext('2d');
  source.drawImage(bitmap, 0, 0);
  const input = new ort.Tensor('float32', toPlanar(source.getImageData(0, 0, width, height)), [1, 3, height, width]);
  const started = performance.now();
  const result = await session.run({ [session.inputNames[0]]: input });
  const output = result[session.outputNames[0]];
  const [, , outH, outW] = output.dims;
  const student = document.getElementById('student');
  student.width = outW;
  student.height = outH;
  student.getContext('2d').putImageData(toImageData(output.data, outW, outH), 0, 0);
  const bicubic = document.getElementById('bicubic');
  bicubic.width = outW;
  bicubic.height = outH;
  const ctx = bicubic.getContext('2d');
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, outW, outH);
  return { ms: performance.now() - started, width: outW, height: outH };
}

async function handle(file) {
  if (!session) return;
  try {
    setState('running', `upscaling ${file.name}…`);
    const { ms, width, height } = await upscale(await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' }));
    document.body.dataset.ms = ms.toFixed(1);
    setState('done', `${file.name}: ${width} x ${height} in ${ms.toFixed(0)} ms`);
  } catch (err) {
    setState('error', `failed: ${err.message}`);
  }
}

const drop = document.getElementById('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  if (e.dataTransfer.files.length) handle(e.dataTransfer.files[0]);
});
document.getElementById('file').addEventListener('change', (e) => { if (e.target.files.length) handle(e.target.files[0]); });

setState('loading', 'loading the model…');
ort.InferenceSession.create('/student.onnx', { executionProviders: ['wasm'] })
  .then((s) => { session = s; setState('ready', 'ready: drop a picture'); })
  .catch((err) => setState('error', `could not load /student.onnx: ${err.message}`));
// for benchmarks and tests: upscale pixels already decoded (RGBA bytes) without the file dialog
window.kdsUpscaleRgba = async (rgba, width, height) => {
  const input = new ort.Tensor('float32', toPlanar({ data: rgba, width, height }), [1, 3, height, width]);
  const result = await session.run({ [session.inputNames[0]]: input });
  return result[session.outputNames[0]];
};
