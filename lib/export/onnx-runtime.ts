// Running an exported .onnx model with ONNX Runtime (onnxruntime-node, an optional dependency), tiled like
// the LibTorch upscale (native/data/tiled_upscale.cc): each tile is run with `overlap` extra input pixels
// on every side (fewer at the border) and only its core is kept.
import fs from 'node:fs';
import { KDSError } from '../errors';
import { describe } from '../validate';

type Ort = typeof import('onnxruntime-node');
let ortModule: Ort | undefined;

/** onnxruntime-node, loaded on first use; a KDSError saying how to install it when it is missing. */
export function onnxRuntime(): Ort {
  if (!ortModule) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      ortModule = require('onnxruntime-node') as Ort;
    } catch (err) {
      throw new KDSError('E_NATIVE',
        `running .onnx models needs the optional dependency onnxruntime-node, which could not be loaded (${(err as Error).message.split('\n')[0]}). ` +
        'Install it with `ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node` (the CPU binaries are in the package; skip leaves out its CUDA download)',
        { cause: err });
    }
  }
  return ortModule;
}

/** An ONNX SR model ready to run: input and output names of the graph. */
export interface OnnxSession {
  readonly path: string;
  run(data: Float32Array, shape: number[]): Promise<{ data: Float32Array; shape: number[] }>;
  release(): Promise<void>;
}

/** Opens an .onnx file; a missing file or one that is not ONNX is E_FILE. */
export async function openOnnx(file: string): Promise<OnnxSession> {
  if (typeof file !== 'string' || file.length === 0) throw new KDSError('E_ARG', `model path must be a non-empty string, got ${describe(file)}`);
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) throw new KDSError('E_FILE', `ONNX model '${file}' does not exist`);
  const ort = onnxRuntime();
  let session: import('onnxruntime-node').InferenceSession;
  try {
    session = await ort.InferenceSession.create(file);
  } catch (err) {
    throw new KDSError('E_FILE', `'${file}' is not an ONNX model ONNX Runtime can load: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  if (session.inputNames.length !== 1 || session.outputNames.length !== 1) {
    await session.release();
    throw new KDSError('E_FILE', `'${file}' is not an SR model: it has ${session.inputNames.length} inputs and ${session.outputNames.length} outputs; expected one image in, one out`);
  }
  const [input] = session.inputNames;
  const [output] = session.outputNames;
  return {
    path: file,
    async run(data, shape) {
      let result;
      try {
        result = await session.run({ [input]: new ort.Tensor('float32', data, shape) });
      } catch (err) {
        throw new KDSError('E_SHAPE', `ONNX model '${file}' failed on input [${shape.join(', ')}]: ${(err as Error).message.split('\n')[0]}`, { cause: err });
      }
      const out = result[output];
      if (out.type !== 'float32') throw new KDSError('E_FILE', `ONNX model '${file}' returned ${out.type}; expected float32`);
      return { data: out.data as Float32Array, shape: out.dims.map(Number) };
    },
    release: () => session.release(),
  };
}

interface Span {
  core0: number;
  core1: number;
  input0: number;
  input1: number;
}

function spans(length: number, tile: number, overlap: number): Span[] {
  const out: Span[] = [];
  for (let start = 0; start < length; start += tile) {
    const end = Math.min(length, start + tile);
    out.push({ core0: start, core1: end, input0: Math.max(0, start - overlap), input1: Math.min(length, end + overlap) });
  }
  return out;
}

/** The rows y0..y1 and columns x0..x1 of an [n, c, h, w] array. */
function crop(data: Float32Array, [n, c, h, w]: number[], y0: number, y1: number, x0: number, x1: number): Float32Array {
  const rows = y1 - y0, cols = x1 - x0;
  const out = new Float32Array(n * c * rows * cols);
  let o = 0;
  for (let p = 0; p < n * c; ++p)
    for (let y = y0; y < y1; ++y) {
      const from = (p * h + y) * w;
      out.set(data.subarray(from + x0, from + x1), o);
      o += cols;
    }
  return out;
}

/** Super-resolves an [n, 3, h, w] image with an ONNX session, tile by tile (tile 0: at once). */
export async function upscaleOnnxTiled(session: OnnxSession, data: Float32Array, shape: number[], tile: number, overlap: number)
  : Promise<{ data: Float32Array; shape: number[] }> {
  const [n, c, height, width] = shape;
  if (tile <= 0) tile = Math.max(height, width);
  let out: Float32Array | undefined;
  let scale = 0;
  for (const rows of spans(height, tile, overlap)) {
    for (const cols of spans(width, tile, overlap)) {
      const inH = rows.input1 - rows.input0, inW = cols.input1 - cols.input0;
      const sr = await session.run(crop(data, shape, rows.input0, rows.input1, cols.input0, cols.input1), [n, c, inH, inW]);
      const [sn, sc, sh, sw] = sr.shape;
      if (!out) {
        if (sr.shape.length !== 4 || sn !== n || sc !== 3 || sh % inH !== 0 || sw % inW !== 0 || sh / inH !== sw / inW || sh < inH)
          throw new KDSError('E_SHAPE', `upscale: the ONNX model turned input [${[n, c, inH, inW].join(', ')}] into [${sr.shape.join(', ')}]; expected [n, 3, s*h, s*w] for an integer scale s`);
        scale = sh / inH;
        out = new Float32Array(n * 3 * height * scale * width * scale);
      } else if (sh !== inH * scale || sw !== inW * scale) {
        throw new KDSError('E_SHAPE', "upscale: the ONNX model's scale changed between tiles");
      }
      // copy the tile's core into place
      const outW = width * scale, outH = height * scale;
      const y0 = (rows.core0 - rows.input0) * scale, x0 = (cols.core0 - cols.input0) * scale;
      const coreH = (rows.core1 - rows.core0) * scale, coreW = (cols.core1 - cols.core0) * scale;
      for (let p = 0; p < n * 3; ++p)
        for (let y = 0; y < coreH; ++y) {
          const from = (p * sh + y0 + y) * sw + x0;
          const to = (p * outH + rows.core0 * scale + y) * outW + cols.core0 * scale;
          out.set(sr.data.subarray(from, from + coreW), to);
        }
    }
  }
  return { data: out!, shape: [n, 3, height * scale, width * scale] };
}
