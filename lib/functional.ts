// Single losses called directly, outside a KDS session: for tests, benchmarks and custom training loops.
import type { NativeSAOptions } from './addon-types';
import { awaitNative, KDSError } from './errors';
import { native, NativeTensor, NativeFeatureArg } from './native';
import { FeatureTermOptions, FeatureType, featureTerm, termOptions } from './feature-terms';
import { SAOptions, saOptions } from './session-options';
import { Tensor, TensorLike } from './tensor';
import { invalidParameterError, nonEmptyArray, oneOf } from './validate';

/** Host values of a feature map in double precision (accepted where the functional API takes features). */
export interface Float64TensorData {
  data: Float64Array;
  shape: readonly number[];
}

/** A feature map: a {@link Tensor}, `{ data: Float32Array, shape }` or `{ data: Float64Array, shape }`. */
export type FeatureLike = TensorLike | Float64TensorData;

/** Options of {@link spatialAffinityLoss}: the SA options of `KDS.setLoss` (checked by the same code), and `dtype`. */
export interface SpatialAffinityLossOptions extends SAOptions {
  /** Precision of the computation. Default 'float64' when an input is a Float64Array, else 'float32'. */
  dtype?: 'float32' | 'float64';
}

/** The loss value and its gradient with respect to the student feature map (same shape as the student). */
export interface LossWithGrad {
  loss: number;
  grad: Tensor;
}

/**
 * FAKD's spatial-affinity loss between a student and a teacher feature map, B x C x H x W each (channel
 * counts may differ; batch and H x W must agree): mean over B * N * N of |A(student) - A(teacher)|, N = H * W,
 * where A is the cosine similarity of every pair of pixels. Runs forward and backward on a worker thread, on
 * the student's device, and resolves with the value and d loss / d student (the teacher is a constant).
 */
export async function spatialAffinityLoss(
  student: FeatureLike,
  teacher: FeatureLike,
  options: SpatialAffinityLossOptions = {},
): Promise<LossWithGrad> {
  const s = featureArg(student, 'student');
  const t = featureArg(teacher, 'teacher');
  if (s.shape[0] !== t.shape[0] || s.shape[2] !== t.shape[2] || s.shape[3] !== t.shape[3])
    throw new KDSError(
      'E_SHAPE',
      `student [${s.shape.join(', ')}] and teacher [${t.shape.join(', ')}] must have the same batch size and H x W ` +
        '(channels may differ)',
    );
  const checked = affinityOptions(options, s.shape, s.float64 || t.float64);
  const result = await awaitNative(() => native().spatialAffinityLoss(s.arg, t.arg, checked));
  return { loss: result.loss, grad: new Tensor(result.grad) };
}

/** Options of {@link featureLoss}: the term's options (see {@link FeatureTermOptions}) and the precision. */
export interface FeatureLossOptions extends FeatureTermOptions {
  /** Precision of the computation. Default 'float64' when an input is a Float64Array, else 'float32'. */
  dtype?: 'float32' | 'float64';
}

/**
 * The loss summed over the list and d loss / d students[i] for each student map: Tensors when computed in
 * float32, `{ data: Float64Array, shape }` when computed in float64.
 */
export interface FeatureLossResult {
  loss: number;
  grads: (Tensor | Float64TensorData)[];
}

/**
 * One feature-distillation term of the FAKD authors' menu ('SA', 'PSA', 'RBF', 'MMD', 'CA', 'IA', 'FSP',
 * 'AT', 'fitnet'; formulas in docs/losses.md) over lists of student and teacher feature maps, as their
 * FeatureLoss takes them: the unweighted loss, summed over the positions of the lists (FSP: over
 * consecutive pairs), and its gradient for each student map (the teachers are constants). Runs on a
 * worker thread. Maps that do not fit the term (channel counts for CA, FSP and fitnet; sizes) are E_SHAPE.
 */
export async function featureLoss(
  type: FeatureType,
  students: readonly FeatureLike[],
  teachers: readonly FeatureLike[],
  options: FeatureLossOptions = {},
): Promise<FeatureLossResult> {
  const row = featureTerm(type);
  const s = nonEmptyArray(students, 'students', (v, name) => featureArg(v, name));
  const t = nonEmptyArray(teachers, 'teachers', (v, name) => featureArg(v, name));
  if (s.length !== t.length)
    throw new KDSError('E_SHAPE', `featureLoss: ${s.length} student feature maps but ${t.length} teacher feature maps`);
  const resolved = termOptions(row.type, options, 'options', ['dtype']);
  const anyFloat64 = [...s, ...t].some((f) => f.float64);
  const dtype = oneOf(options.dtype ?? (anyFloat64 ? 'float64' : 'float32'), 'options.dtype', ['float32', 'float64']);
  const result = await awaitNative(() =>
    native().featureLoss(row.type, s.map((f) => f.arg), t.map((f) => f.arg), { ...resolved, dtype }));
  const grads = result.grads.map((g) => ('data' in g && g.data instanceof Float64Array ? { data: g.data, shape: g.shape } : new Tensor(g as NativeTensor)));
  return { loss: result.loss, grads };
}

interface CheckedFeature {
  arg: NativeTensor | NativeFeatureArg;
  shape: readonly number[];
  float64: boolean;
}

function featureArg(value: unknown, name: string): CheckedFeature {
  let shape: readonly number[];
  let arg: NativeTensor | NativeFeatureArg;
  let float64 = false;
  if (value instanceof Tensor) {
    shape = value.shape;
    arg = value.native;
  } else {
    if (typeof value !== 'object' || value === null)
      throw invalidParameterError(name, 'a Tensor or { data: Float32Array | Float64Array, shape: number[] }', value);
    const { data, shape: s } = value as { data?: unknown; shape?: unknown };
    if (!(data instanceof Float32Array) && !(data instanceof Float64Array))
      throw invalidParameterError(`${name}.data`, 'a Float32Array or a Float64Array', data);
    if (!Array.isArray(s) || !s.every((d) => Number.isInteger(d) && d >= 0))
      throw invalidParameterError(`${name}.shape`, 'an array of non-negative integers', s);
    const numel = s.reduce<number>((a, b: number) => a * b, 1);
    if (numel !== data.length)
      throw new KDSError('E_SHAPE', `${name}.shape [${s.join(', ')}] needs ${numel} values, but ${name}.data has ${data.length}`);
    shape = s;
    arg = { data, shape: s };
    float64 = data instanceof Float64Array;
  }
  if (shape.length !== 4)
    throw new KDSError('E_SHAPE', `${name} must be a feature map [batch, channels, height, width], got shape [${shape.join(', ')}]`);
  if (shape.some((d) => d < 1)) throw new KDSError('E_SHAPE', `${name} is empty: shape [${shape.join(', ')}]`);
  return { arg, shape, float64 };
}

function affinityOptions(options: unknown, studentShape: readonly number[], anyFloat64: boolean): NativeSAOptions {
  const sa = saOptions(options, 'options', '', ['dtype']);
  const [, , height, width] = studentShape;
  if (sa.pool !== 'none' && (sa.poolSize > height || sa.poolSize > width))
    throw new KDSError('E_ARG', `poolSize ${sa.poolSize} is larger than the feature map (${height} x ${width})`);
  const dtype = (options as SpatialAffinityLossOptions).dtype ?? (anyFloat64 ? 'float64' : 'float32');
  return { ...sa, dtype: oneOf(dtype, 'dtype', ['float32', 'float64']) };
}
