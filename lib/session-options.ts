// The options of a KDS session (loss, SA, optimiser, precision, memory format): their public types, their
// defaults and their checks, in one place. Each reader turns what a user passed into the complete object
// the addon takes (lib/addon-types.ts); the glue fills in nothing.
import type { NativeAdamOptions, NativeLossOptions, NativePrecisionOptions } from './addon-types';
import { KDSError } from './errors';
import { FeatureTermOptions, FeatureType, featureTerm, parseFeatureSpec, termOptions } from './feature-terms';
import {
  checkOptions,
  invalidParameterError,
  isPlainObject,
  nonNegativeInt,
  nonNegativeNumber,
  numberAbove,
  numberInRange,
  oneOf,
  positiveInt,
} from './validate';

/** Options of the spatial-affinity (SA) loss. */
export interface SAOptions {
  /** 'fused' (default): tiled, never builds the N x N affinity matrices. 'plain': the reference formula. */
  impl?: 'fused' | 'plain';
  /** Added to each pixel's feature norm before dividing. Default 1e-8. */
  eps?: number;
  /** Fused only: pixels per tile side; 0 (default) chooses from the shapes and the device. */
  tile?: number;
  /** FAKD's pooled variant (PSA): pool both feature maps before the affinity. Default 'none'. */
  pool?: 'none' | 'max' | 'avg';
  /** Pooling window and stride (ceil rounding, as the FAKD authors). Default 2. */
  poolSize?: number;
}

/** One feature-distillation term of setLoss({ features }): its type, weight, positions and options. */
export interface FeatureTermSpec extends FeatureTermOptions {
  type: FeatureType;
  /** >= 0. Default 1. */
  weight?: number;
  /** Feature positions (indices into both models' feature lists); default: setLoss's `positions`, else every pair. */
  positions?: number[];
}

/**
 * The objective: total = DS * L1(student, HR) + TS * L1(student, teacher) + sum over the feature terms of
 * weight * term (docs/losses.md). Either `features` or the older `SA` form. Defaults: weights { DS: 0.5,
 * TS: 0.5 } (alpha 0.5), one SA term of weight 1 (as in the code that produced FAKD's published numbers),
 * every feature pair.
 */
export interface LossOptions {
  /**
   * The feature terms, e.g. [{ type: 'SA', weight: 10 }, { type: 'AT', positions: [1, 2, 3] }] ([] for none),
   * or the authors' command-line syntax '10*SA+1*AT' (each term with its default options).
   */
  features?: FeatureTermSpec[] | string;
  /** Older form: true/false, or SA options (implies true; with `pool` the term is PSA). Default true. */
  SA?: boolean | SAOptions;
  /** Loss weights. A weight of 0 turns that part off (TS and every feature weight 0: no teacher needed). */
  weights?: { DS?: number; TS?: number; SA?: number };
  /** Default feature positions of every term (indices into both models' feature lists); default: every pair. */
  positions?: number[];
}

/** Adam, as in FAKD: lr 1e-4, betas (0.9, 0.999), eps 1e-8, no weight decay. */
export interface OptimizerOptions {
  type?: 'adam';
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** Clips the gradients' global L2 norm to this value before each update (0, the default: no clipping). */
  clipGradNorm?: number;
}

/** Arithmetic of the forward passes: 'fp32' (default), or autocast to bfloat16 or float16. */
export type Precision = 'fp32' | 'bf16' | 'fp16';

/**
 * fp16's dynamic loss scaling, as torch.amp.GradScaler (same defaults): the loss is multiplied by the
 * scale before backward and the gradients divided by it; a step whose gradients overflow is skipped and
 * the scale multiplied by backoffFactor; after growthInterval good steps it is multiplied by growthFactor.
 */
export interface PrecisionOptions {
  /** Default 65536 (2^16). */
  initScale?: number;
  /** > 1. Default 2. */
  growthFactor?: number;
  /** In (0, 1). Default 0.5. */
  backoffFactor?: number;
  /** A positive integer. Default 2000. */
  growthInterval?: number;
}

/**
 * The teacher forward's arithmetic: 'step' (default) follows {@link Precision}, set by setPrecision; 'fp32',
 * 'bf16' or 'fp16' set it for the teacher alone (the student keeps the step's precision).
 */
export type TeacherPrecision = 'step' | Precision;

/** Layout of teacher, student and batches: 'contiguous' (NCHW, default) or 'channels_last' (NHWC strides). */
export type MemoryFormat = 'contiguous' | 'channels_last';

/** The SA options with every default filled in. */
export type CheckedSAOptions = Required<SAOptions>;

const SA_KEYS = ['impl', 'eps', 'tile', 'pool', 'poolSize'] as const;
export const SA_DEFAULTS: Readonly<CheckedSAOptions> = { impl: 'fused', eps: 1e-8, tile: 0, pool: 'none', poolSize: 2 };
const WEIGHT_DEFAULTS = { DS: 0.5, TS: 0.5, SA: 1 } as const;
const ADAM_DEFAULTS: Readonly<NativeAdamOptions> = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, clipGradNorm: 0 };
const SCALER_DEFAULTS = { initScale: 65536, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000 } as const;
const FLOAT32_MAX = 3.4e38;
const INT32_MAX = 2 ** 31 - 1;

/**
 * Checks SA options (the session's `SA` and the functional loss's options alike) and fills in the defaults.
 * `name` names the object in messages and `field` prefixes its fields ('SA' and 'SA.'; 'options' and '').
 * `extraKeys` are further keys the caller reads itself.
 */
export function saOptions(value: unknown, name: string, field: string, extraKeys: readonly string[] = []): CheckedSAOptions {
  const o = checkOptions(value, name, [...SA_KEYS, ...extraKeys]) as SAOptions;
  return {
    impl: oneOf(o.impl ?? SA_DEFAULTS.impl, `${field}impl`, ['fused', 'plain']),
    eps: nonNegativeNumber(o.eps ?? SA_DEFAULTS.eps, `${field}eps`),
    tile: nonNegativeInt(o.tile ?? SA_DEFAULTS.tile, `${field}tile`),
    pool: oneOf(o.pool ?? SA_DEFAULTS.pool, `${field}pool`, ['none', 'max', 'avg']),
    poolSize: positiveInt(o.poolSize ?? SA_DEFAULTS.poolSize, `${field}poolSize`),
  };
}

type NativeFeatureTerm = NativeLossOptions['features'][number];

// The older form { SA, weights.SA }: one SA term, or PSA when it pools.
function olderSA(sa: boolean | SAOptions, weight: number, termPositions: number[]): NativeFeatureTerm[] {
  if (sa === false) return [];
  const { pool, poolSize, ...rest } = saOptions(sa === true ? {} : sa, 'SA', 'SA.');
  if (pool === 'none') return [{ type: 'SA', weight, positions: termPositions, options: rest }];
  return [{ type: 'PSA', weight, positions: termPositions, options: { ...rest, pool, poolSize } }];
}

/** The session's loss: checked, with every default filled in. `{}` gives the defaults. */
export function lossOptions(options: unknown): NativeLossOptions {
  const o = checkOptions(options, 'loss options', ['features', 'SA', 'weights', 'positions']) as LossOptions;
  const w = checkOptions(o.weights, 'weights', ['DS', 'TS', 'SA']) as NonNullable<LossOptions['weights']>;
  const DS = nonNegativeNumber(w.DS ?? WEIGHT_DEFAULTS.DS, 'weights.DS');
  const TS = nonNegativeNumber(w.TS ?? WEIGHT_DEFAULTS.TS, 'weights.TS');
  const common = o.positions === undefined ? [] : positions(o.positions, 'positions');
  if (o.features === undefined) {
    const sa = o.SA ?? true;
    if (typeof sa !== 'boolean' && !isPlainObject(sa)) throw invalidParameterError('SA', 'a boolean or an options object', sa);
    return { DS, TS, features: olderSA(sa, nonNegativeNumber(w.SA ?? WEIGHT_DEFAULTS.SA, 'weights.SA'), common) };
  }
  if (o.SA !== undefined || w.SA !== undefined)
    throw new KDSError('E_ARG', 'loss options: give the SA term either in features or as SA / weights.SA, not both');
  const list: unknown = typeof o.features === 'string' ? parseFeatureSpec(o.features) : o.features;
  if (!Array.isArray(list)) throw invalidParameterError('features', "an array of { type, weight?, positions?, ...options } or a string such as '10*SA+1*AT'", list);
  const seen = new Set<string>();
  const features = list.map((item: unknown, i: number): NativeFeatureTerm => {
    const name = `features[${i}]`;
    if (!isPlainObject(item)) throw invalidParameterError(name, 'an object { type, weight?, positions?, ...options }', item);
    const row = featureTerm(item.type, `${name}.type`);
    if (seen.has(row.type)) throw new KDSError('E_ARG', `${name}: ${row.type} is listed twice; give each type once`);
    seen.add(row.type);
    const { type: _type, weight, positions: own, ...rest } = item;
    const termPositions = own === undefined ? common : positions(own, `${name}.positions`);
    if (row.type === 'FSP' && termPositions.length === 1)
      throw new KDSError('E_ARG', `${name}: FSP pairs consecutive positions and needs at least 2, got [${termPositions.join(', ')}]`);
    return {
      type: row.type,
      weight: nonNegativeNumber(weight ?? 1, `${name}.weight`),
      positions: termPositions,
      options: termOptions(row.type, rest, name),
    };
  });
  return { DS, TS, features };
}

function positions(value: unknown, name: string): number[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((i) => Number.isInteger(i) && i >= 0))
    throw invalidParameterError(name, 'a non-empty array of integers >= 0', value);
  return [...(value as number[])];
}

/** Adam's hyper-parameters, checked, with the defaults filled in. */
export function optimizerOptions(options: unknown): NativeAdamOptions {
  const o = checkOptions(options, 'optimizer options', ['type', 'lr', 'betas', 'eps', 'weightDecay', 'clipGradNorm']) as OptimizerOptions;
  oneOf(o.type ?? 'adam', 'optimizer type', ['adam']);
  const betas = o.betas ?? [ADAM_DEFAULTS.beta1, ADAM_DEFAULTS.beta2];
  if (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => typeof b === 'number' && b >= 0 && b < 1))
    throw invalidParameterError('betas', 'two numbers in [0, 1)', betas);
  return {
    lr: nonNegativeNumber(o.lr ?? ADAM_DEFAULTS.lr, 'lr'),
    beta1: betas[0],
    beta2: betas[1],
    eps: nonNegativeNumber(o.eps ?? ADAM_DEFAULTS.eps, 'eps'),
    weightDecay: nonNegativeNumber(o.weightDecay ?? ADAM_DEFAULTS.weightDecay, 'weightDecay'),
    clipGradNorm: nonNegativeNumber(o.clipGradNorm ?? 0, 'clipGradNorm'),
  };
}

/** The precision and fp16's loss-scaling options, checked, with the defaults filled in. */
export function precisionOptions(precision: unknown, options: unknown): NativePrecisionOptions {
  const p = oneOf(precision, 'precision', ['fp32', 'bf16', 'fp16']);
  const o = checkOptions(options, 'precision options', Object.keys(SCALER_DEFAULTS)) as PrecisionOptions;
  const keys = Object.keys(o);
  if (keys.length > 0 && p !== 'fp16')
    throw new KDSError('E_ARG', `precision options (${keys.join(', ')}) set fp16's loss scaling; '${p}' does not scale the loss`);
  const initScale = numberAbove(o.initScale ?? SCALER_DEFAULTS.initScale, 'initScale', 0);
  if (initScale > FLOAT32_MAX) throw invalidParameterError('initScale', `at most ${FLOAT32_MAX} (float32's largest value)`, initScale);
  const growthInterval = positiveInt(o.growthInterval ?? SCALER_DEFAULTS.growthInterval, 'growthInterval');
  if (growthInterval > INT32_MAX) throw invalidParameterError('growthInterval', `at most ${INT32_MAX}`, growthInterval);
  return {
    precision: p,
    initScale,
    growthFactor: numberAbove(o.growthFactor ?? SCALER_DEFAULTS.growthFactor, 'growthFactor', 1),
    backoffFactor: numberInRange(o.backoffFactor ?? SCALER_DEFAULTS.backoffFactor, 'backoffFactor', 0, 1, { min: true, max: true }),
    growthInterval,
  };
}

export function teacherPrecision(precision: unknown): TeacherPrecision {
  return oneOf(precision, 'teacher precision', ['step', 'fp32', 'bf16', 'fp16']);
}

export function memoryFormat(format: unknown): MemoryFormat {
  return oneOf(format, 'memory format', ['contiguous', 'channels_last']);
}

/** What a new session starts with (KDS's constructor sends them all: the addon has no defaults). */
export const SESSION_DEFAULTS = {
  loss: lossOptions({}),
  optimizer: optimizerOptions({}),
  precision: precisionOptions('fp32', {}),
  teacherPrecision: teacherPrecision('step'),
} as const;
