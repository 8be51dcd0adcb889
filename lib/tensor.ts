import { callNative, KDSError } from './errors';
import { native, NativeTensor, NativeTensorArg } from './native';
import { invalidParameterError } from './validate';

/** Plain image data: values row-major in `shape` order (for images [n, 3, h, w], 0..255). */
export interface TensorData {
  data: Float32Array;
  shape: readonly number[];
}

/** Anything kds accepts where a tensor is expected. */
export type TensorLike = Tensor | TensorData;

/**
 * A tensor held by the native core (CPU or GPU memory). Model outputs are Tensors; read the values with
 * {@link Tensor.toFloat32Array}. Call {@link Tensor.dispose} to free the memory before the GC would.
 */
export class Tensor {
  /** @internal */
  readonly native: NativeTensor;

  /** @internal */
  constructor(nativeTensor: NativeTensor) {
    this.native = nativeTensor;
  }

  /** Copies `data` (shape `shape`) into a new CPU tensor. */
  static from(input: TensorData): Tensor {
    const checked = checkTensorData(input, 'tensor');
    return new Tensor(callNative(() => new (native().NativeTensor)(checked.data, checked.shape)));
  }

  get shape(): number[] {
    return callNative(() => this.native.shape);
  }

  get device(): string {
    return callNative(() => this.native.device);
  }

  /** A copy of the values as float32, row-major. */
  toFloat32Array(): Float32Array {
    return callNative(() => this.native.toFloat32Array());
  }

  /** Frees the native memory now; the tensor cannot be used afterwards. */
  dispose(): void {
    this.native.dispose();
  }
}

/** Validates { data, shape }: a Float32Array and non-negative integer sizes whose product is data.length. */
export function checkTensorData(value: unknown, name: string): TensorData {
  if (typeof value !== 'object' || value === null)
    throw invalidParameterError(name, 'a Tensor or { data: Float32Array, shape: number[] }', value);
  const { data, shape } = value as Partial<TensorData>;
  if (!(data instanceof Float32Array))
    throw invalidParameterError(`${name}.data`, 'a Float32Array', data);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
    throw invalidParameterError(`${name}.shape`, 'an array of non-negative integers', shape);
  const numel = shape.reduce((a: number, b: number) => a * b, 1);
  if (numel !== data.length)
    throw new KDSError('E_SHAPE', `${name}.shape [${shape.join(', ')}] needs ${numel} values, but ${name}.data has ${data.length}`);
  return { data, shape };
}

/** Checks an image batch: rank 4, 3 channels, non-empty. Returns what the addon takes. */
export function imageArg(value: unknown, name: string): NativeTensor | NativeTensorArg {
  const shape = value instanceof Tensor ? value.shape : checkTensorData(value, name).shape;
  if (shape.length !== 4 || shape[1] !== 3)
    throw new KDSError('E_SHAPE', `${name} must have shape [n, 3, h, w] (RGB, values 0..255), got [${shape.join(', ')}]`);
  if (shape[0] < 1 || shape[2] < 1 || shape[3] < 1)
    throw new KDSError('E_SHAPE', `${name} is empty: shape [${shape.join(', ')}]`);
  return value instanceof Tensor ? value.native : (value as TensorData);
}

