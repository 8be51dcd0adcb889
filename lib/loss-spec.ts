// setLoss's options: validation, defaults, and the translation of the older forms ({ SA: true },
// { SA: {...}, weights: { DS, TS, SA }, positions }) into the list of feature terms the core runs.
import { KDSError } from './errors';
import { FeatureTermOptions, FeatureType, featureTerm, parseFeatureSpec, termOptions } from './feature-terms';
import { checkOptions, invalidParameterError, isPlainObject, nonNegativeInt, nonNegativeNumber, nonEmptyArray, oneOf, positiveInt } from './validate';

/** Options of the spatial-affinity (SA) loss in the older form of setLoss. */
export interface SAOptions {
  /** 'fused' (default): tiled, never builds the N x N affinity matrices. 'plain': the reference formula. */
  impl?: 'fused' | 'plain';
  /** Added to each pixel's feature norm before dividing. Default 1e-8. */
  eps?: number;
  /** Fused only: pixels per tile side; 0 (default) chooses from the shapes and the device. */
  tile?: number;
  /** FAKD's pooled variant (then the term is PSA): pool both feature maps first. Default 'none'. */
  pool?: 'none' | 'max' | 'avg';
  /** Pooling window and stride (ceil rounding). Default 2. */
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
 * weight * term. Either `features` (any terms of docs/losses.md) or the older `SA` form; defaults: weights
 * { DS: 0.5, TS: 0.5 }, one SA term of weight 1 (as the code that produced FAKD's published numbers), every
 * feature pair.
 */
export interface LossOptions {
  /**
   * The feature terms, e.g. [{ type: 'SA', weight: 10 }, { type: 'AT', positions: [1, 2, 3] }] ([] for none),
   * or the authors' command-line syntax '10*SA+1*AT' (each term with its default options).
   */
  features?: FeatureTermSpec[] | string;
  /** Older form: true/false, or SA options (implies true). Default true. Not together with `features`. */
  SA?: boolean | SAOptions;
  /** Loss weights. A weight of 0 turns that part off (TS and every feature weight 0: no teacher needed). */
  weights?: { DS?: number; TS?: number; SA?: number };
  /** Default feature positions of every term; default: every pair. */
  positions?: number[];
}

/** A feature term as the core runs it. */
export interface ResolvedFeatureTerm {
  type: FeatureType;
  weight: number;
  positions: number[]; // [] = every feature pair
  options: Record<string, number | string>;
}

export interface ResolvedLoss {
  DS: number;
  TS: number;
  features: ResolvedFeatureTerm[];
}

export const DEFAULT_LOSS_WEIGHTS = { DS: 0.5, TS: 0.5, SA: 1 } as const;
const LEGACY_POOL_SIZE = 2;

function positionList(value: unknown, name: string): number[] {
  return nonEmptyArray(value, name, (v, n) => nonNegativeInt(v, n));
}

function legacySA(sa: unknown, weight: number, positions: number[]): ResolvedFeatureTerm[] {
  if (sa === false) return [];
  if (sa === true) return [{ type: 'SA', weight, positions, options: termOptions('SA', {}, 'SA') }];
  if (!isPlainObject(sa)) throw invalidParameterError('SA', 'a boolean or an options object', sa);
  const o = checkOptions(sa, 'SA', ['impl', 'eps', 'tile', 'pool', 'poolSize']);
  const pool = o.pool === undefined ? 'none' : oneOf(o.pool, 'SA.pool', ['none', 'max', 'avg'] as const);
  const { pool: _pool, poolSize, ...rest } = o;
  if (pool === 'none') {
    if (poolSize !== undefined) positiveInt(poolSize, 'SA.poolSize');
    return [{ type: 'SA', weight, positions, options: termOptions('SA', rest, 'SA') }];
  }
  const options = termOptions('PSA', { ...rest, pool, poolSize: poolSize ?? LEGACY_POOL_SIZE }, 'SA');
  return [{ type: 'PSA', weight, positions, options }];
}

/** Checks setLoss's options (E_ARG naming the bad one) and resolves every default. */
export function resolveLoss(options: unknown): ResolvedLoss {
  const o = checkOptions(options, 'loss options', ['features', 'SA', 'weights', 'positions']);
  const w = checkOptions(o.weights, 'weights', ['DS', 'TS', 'SA']);
  const DS = w.DS === undefined ? DEFAULT_LOSS_WEIGHTS.DS : nonNegativeNumber(w.DS, 'weights.DS');
  const TS = w.TS === undefined ? DEFAULT_LOSS_WEIGHTS.TS : nonNegativeNumber(w.TS, 'weights.TS');
  const positions = o.positions === undefined ? [] : positionList(o.positions, 'positions');
  if (o.features === undefined) {
    const saWeight = w.SA === undefined ? DEFAULT_LOSS_WEIGHTS.SA : nonNegativeNumber(w.SA, 'weights.SA');
    return { DS, TS, features: legacySA(o.SA ?? true, saWeight, positions) };
  }
  if (o.SA !== undefined || w.SA !== undefined)
    throw new KDSError('E_ARG', 'loss options: give the SA term either in features or as SA / weights.SA, not both');
  const list = typeof o.features === 'string' ? parseFeatureSpec(o.features) : o.features;
  if (!Array.isArray(list)) throw invalidParameterError('features', 'an array of { type, weight?, positions?, ...options }', o.features);
  const seen = new Set<string>();
  const features = list.map((item: unknown, i: number): ResolvedFeatureTerm => {
    const name = `features[${i}]`;
    if (!isPlainObject(item)) throw invalidParameterError(name, 'an object { type, weight?, positions?, ...options }', item);
    const row = featureTerm(item.type, `${name}.type`);
    if (seen.has(row.type)) throw new KDSError('E_ARG', `${name}: ${row.type} is listed twice; give each type once`);
    seen.add(row.type);
    const { type: _type, weight, positions: own, ...rest } = item;
    const termPositions = own === undefined ? positions : positionList(own, `${name}.positions`);
    if (row.type === 'FSP' && termPositions.length === 1)
      throw new KDSError('E_ARG', `${name}: FSP pairs consecutive positions and needs at least 2, got [${termPositions.join(', ')}]`);
    return {
      type: row.type,
      weight: weight === undefined ? 1 : nonNegativeNumber(weight, `${name}.weight`),
      positions: termPositions,
      options: termOptions(row.type, rest, name),
    };
  });
  return { DS, TS, features };
}
