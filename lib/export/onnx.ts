// model.exportOnnx: a kds-built model (EDSR, RCAN, SAN) written as an ONNX graph by kds itself, from its
// spec and its named weights; a TorchScript model through python3's torch.onnx (torchscript.ts).
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file';
import { awaitNative, KDSError } from '../errors';
import type { ModelSpec } from '../models/registry';
import type { ExportableModel as Model, ExportSettings } from './exportable';
import { boolean, checkOptions, describe, invalidParameterError, positiveInt } from '../validate';
import { NamedWeight, Weights } from './blocks';
import { edsrGraph } from './edsr';
import { FLOAT16_MAX } from './float16';
import { GraphBuilder, MAX_OPSET, MIN_OPSET } from './graph';
import { rcanGraph } from './rcan';
import { sanGraph } from './san';
import { exportTorchScriptOnnx } from './torchscript';

export interface OnnxExportOptions {
  /** ONNX opset of the default domain, 13 to 21. Default 17. */
  opset?: number;
  /** float16 weights and compute, float32 input and output (Cast nodes). Default false. */
  fp16?: boolean;
  /** Batch, height and width left dynamic. Default true; false fixes the input to [1, 3, height, width]. */
  dynamicSize?: boolean;
  /** The fixed input height (with dynamicSize: false). */
  height?: number;
  /** The fixed input width (with dynamicSize: false). */
  width?: number;
}

/** @internal Validated export options. */
export type { ExportSettings, ExportableModel } from './exportable';

export const DEFAULT_OPSET = 17;

/** @internal */
export function exportSettings(options: unknown): ExportSettings {
  const o = checkOptions(options, 'exportOnnx options', ['opset', 'fp16', 'dynamicSize', 'height', 'width']);
  const opset = o.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || (opset as number) < MIN_OPSET || (opset as number) > MAX_OPSET)
    throw invalidParameterError('opset', `an opset the ONNX writer produces: an integer from ${MIN_OPSET} to ${MAX_OPSET}`, opset);
  const fp16 = boolean(o.fp16 ?? false, 'fp16');
  const dynamicSize = boolean(o.dynamicSize ?? true, 'dynamicSize');
  if (dynamicSize) {
    if (o.height !== undefined || o.width !== undefined)
      throw new KDSError('E_ARG', 'height and width fix the input size: they need dynamicSize: false');
    return { opset: opset as number, fp16, size: null };
  }
  return { opset: opset as number, fp16, size: { height: positiveInt(o.height, 'height'), width: positiveInt(o.width, 'width') } };
}

/** @internal Checks the target: a non-empty string ending in .onnx, in a folder that exists. */
export function checkOnnxTarget(file: unknown): string {
  if (typeof file !== 'string' || !file.toLowerCase().endsWith('.onnx')) throw invalidParameterError('path', 'a path ending in .onnx', file);
  const folder = path.dirname(path.resolve(file));
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory())
    throw new KDSError('E_FILE', `cannot write '${file}': the folder '${folder}' does not exist`);
  return file;
}

/** Writes `model` as an ONNX file at `file` (atomically). */
export async function exportOnnx(model: Model, file: string, options: OnnxExportOptions = {}): Promise<void> {
  const settings = exportSettings(options);
  checkOnnxTarget(file);
  const bytes = model.spec ? await onnxFromSpec(model, model.spec, settings) : await exportTorchScriptOnnx(model, settings);
  try {
    await writeFileAtomic(file, bytes);
  } catch (err) {
    throw new KDSError('E_FILE', `cannot write '${file}': ${(err as Error).message}`, { cause: err });
  }
}

async function namedWeights(model: Model): Promise<Map<string, NamedWeight>> {
  const tensors = await awaitNative(() => model.native.namedTensors());
  const out = new Map<string, NamedWeight>();
  try {
    for (const { name, tensor } of tensors) out.set(name, { dims: tensor.shape, data: tensor.toFloat32Array() });
  } finally {
    for (const { tensor } of tensors) tensor.dispose();
  }
  return out;
}

/** Refuses weights that would make a broken file: NaN/Inf anywhere, or beyond float16's range in fp16. */
function checkWeights(weights: Map<string, NamedWeight>, fp16: boolean): void {
  for (const [name, { data }] of weights) {
    for (let i = 0; i < data.length; ++i) {
      const v = data[i];
      if (!Number.isFinite(v))
        throw new KDSError('E_NAN', `cannot export: weight '${name}' holds ${v} at index ${i}; a model with NaN/Inf weights would only output NaN`);
      if (fp16 && Math.abs(v) > FLOAT16_MAX)
        throw new KDSError('E_ARG', `cannot export with fp16: weight '${name}' holds ${v} at index ${i}, beyond float16's range (±${FLOAT16_MAX}); export in float32`);
    }
  }
}

/** @internal The ONNX bytes of a kds-built model. */
export async function onnxFromSpec(model: Model, spec: Readonly<ModelSpec>, settings: ExportSettings): Promise<Uint8Array> {
  const weights = await namedWeights(model);
  checkWeights(weights, settings.fp16);
  const g = new GraphBuilder({ opset: settings.opset, fp16: settings.fp16 });
  const w = new Weights(weights);
  const input = 'input';
  const x = g.fromFloat32(input);
  let y: string;
  if (spec.architecture === 'edsr') y = edsrGraph(g, w, spec, x);
  else if (spec.architecture === 'rcan') y = rcanGraph(g, w, spec, x);
  else if (spec.architecture === 'san') y = sanGraph(g, w, spec, x);
  else throw new KDSError('E_ARG', `cannot export architecture ${describe((spec as ModelSpec).architecture)}`);
  const output = g.op('Identity', [g.toFloat32(y)], {}, 'output', 'output');
  const s = spec.scale;
  const shapes = settings.size
    ? { input: [1, 3, settings.size.height, settings.size.width], output: [1, 3, s * settings.size.height, s * settings.size.width] }
    : { input: ['batch', 3, 'height', 'width'], output: ['batch', 3, `height*${s}`, `width*${s}`] };
  return g.encode(input, output, shapes, `kds ${JSON.stringify(spec)}${settings.fp16 ? ' fp16' : ''}`);
}
