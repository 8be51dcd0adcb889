// A small builder for ONNX graphs: named values, nodes, initialisers; serialised with onnx-proto (ONNX's
// own schema compiled for protobufjs). The model writers (edsr.ts, rcan.ts, san.ts) speak only to this.
import { onnx } from 'onnx-proto';
import { KDSError } from '../errors';
import { float16Bits } from './float16';

/** The opsets the writers produce: 13 (Squeeze/ReduceSum axes as inputs) to 21. */
export const MIN_OPSET = 13;
export const MAX_OPSET = 21;

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;
const INT64 = onnx.TensorProto.DataType.INT64;

type Attribute = number | number[] | string;

/** The IR version a model with this default-domain opset needs (ONNX's versioning table). */
function irVersionFor(opset: number): number {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

export interface GraphOptions {
  opset: number;
  /** Weights and compute in float16; the graph's input and output stay float32. */
  fp16: boolean;
}

/** A growing ONNX graph. Values are named strings; `op` adds a node and returns its output names. */
export class GraphBuilder {
  readonly opset: number;
  readonly fp16: boolean;
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;

  constructor(options: GraphOptions) {
    this.opset = options.opset;
    this.fp16 = options.fp16;
  }

  /** A fresh value name with a readable stem. */
  name(stem: string): string {
    return `${stem}_${this.counter++}`;
  }

  /** Adds a node; returns its output's name (a fresh one from `stem`, or exactly `exactName`). */
  op(type: string, inputs: string[], attributes: Record<string, Attribute> = {}, stem = type.toLowerCase(), exactName?: string): string {
    const output = exactName ?? this.name(stem);
    this.nodes.push({
      opType: type,
      name: `${type}_${this.nodes.length}`,
      input: inputs,
      output: [output],
      attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
    });
    return output;
  }

  /** A weight in the compute type (float16 when fp16); `name` is its state-dict key. */
  weight(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push(this.fp16 ? float16Tensor(name, dims, data) : float32Tensor(name, dims, data));
    return name;
  }

  /** A constant in the compute type, shared between uses (e.g. 0.5, resScale, 3I). */
  scalarOrArray(values: number[], dims: number[] = []): string {
    return this.constant(`c:${this.fp16}:${dims.join('x')}:${values.join(',')}`, (name) =>
      this.fp16 ? float16Tensor(name, dims, Float32Array.from(values)) : float32Tensor(name, dims, Float32Array.from(values)));
  }

  /** A float32 constant whatever the compute type (for the parts kept in float32). */
  float32(values: number[], dims: number[] = []): string {
    return this.constant(`f32:${dims.join('x')}:${values.join(',')}`, (name) => float32Tensor(name, dims, Float32Array.from(values)));
  }

  /** An int64 constant (shapes, axes, slice bounds). */
  int64(values: number[], dims: number[] = [values.length]): string {
    return this.constant(`i64:${dims.join('x')}:${values.join(',')}`, (name) => ({
      name,
      dims,
      dataType: INT64,
      rawData: new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer),
    }));
  }

  /** The compute type's ONNX data type (for Cast). */
  get computeType(): number {
    return this.fp16 ? FLOAT16 : FLOAT;
  }

  /** Casts a value to float32 (no-op in float32 graphs). */
  toFloat32(value: string): string {
    return this.fp16 ? this.op('Cast', [value], { to: FLOAT }) : value;
  }

  /** Casts a float32 value to the compute type (no-op in float32 graphs). */
  fromFloat32(value: string): string {
    return this.fp16 ? this.op('Cast', [value], { to: FLOAT16 }) : value;
  }

  /** ReduceMean over `axes`: an attribute before opset 18, an input from 18 on. */
  reduceMean(value: string, axes: number[], keepdims: boolean): string {
    if (this.opset < 18) return this.op('ReduceMean', [value], { axes, keepdims: keepdims ? 1 : 0 });
    return this.op('ReduceMean', [value, this.int64(axes)], { keepdims: keepdims ? 1 : 0 });
  }

  /** ReduceSum over `axes` (axes are an input from opset 13 on). */
  reduceSum(value: string, axes: number[], keepdims: boolean): string {
    return this.op('ReduceSum', [value, this.int64(axes)], { keepdims: keepdims ? 1 : 0 });
  }

  /** The serialised ModelProto with a float32 input [N, 3, H, W] and output [N, 3, sH, sW]. */
  encode(input: string, output: string, shapes: { input: (number | string)[]; output: (number | string)[] }, docString: string): Uint8Array {
    const valueInfo = (name: string, dims: (number | string)[]): onnx.IValueInfoProto => ({
      name,
      type: {
        tensorType: {
          elemType: FLOAT,
          shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    });
    const model: onnx.IModelProto = {
      irVersion: irVersionFor(this.opset),
      producerName: 'kds',
      docString,
      opsetImport: [{ domain: '', version: this.opset }],
      graph: {
        name: 'kds',
        node: this.nodes,
        initializer: this.initializers,
        input: [valueInfo(input, shapes.input)],
        output: [valueInfo(output, shapes.output)],
      },
    };
    const err = onnx.ModelProto.verify(model);
    if (err) throw new KDSError('E_INTERNAL', `the ONNX model kds built is not valid: ${err}`);
    return onnx.ModelProto.encode(model).finish();
  }

  private constant(key: string, make: (name: string) => onnx.ITensorProto): string {
    const known = this.constants.get(key);
    if (known) return known;
    const name = this.name('const');
    this.initializers.push(make(name));
    this.constants.set(key, name);
    return name;
  }
}

function attribute(name: string, value: Attribute): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if (Number.isInteger(value)) return { name, type: T.INT, i: value };
  return { name, type: T.FLOAT, f: value };
}

function float32Tensor(name: string, dims: number[], data: Float32Array): onnx.ITensorProto {
  // a copy, so that the bytes are little-endian float32 whatever view `data` was
  const copy = Float32Array.from(data);
  return { name, dims, dataType: FLOAT, rawData: new Uint8Array(copy.buffer) };
}

function float16Tensor(name: string, dims: number[], data: Float32Array): onnx.ITensorProto {
  const bits = new Uint16Array(data.length);
  for (let i = 0; i < data.length; ++i) bits[i] = float16Bits(data[i]);
  return { name, dims, dataType: FLOAT16, rawData: new Uint8Array(bits.buffer) };
}
