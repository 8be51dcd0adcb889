// The feature-distillation terms on the TypeScript side: one row per term (its options, their defaults and
// checks, a doc line). The math is in native/losses/terms/ (one file per term) and its row in
// native/losses/feature_registry.cc; docs/losses.md gives each formula and how to add a term.
import { KDSError } from './errors';
import { checkOptions, nonNegativeInt, nonNegativeNumber, oneOf, positiveInt, positiveNumber } from './validate';

/** The FAKD authors' menu of feature-distillation types. */
export type FeatureType = 'SA' | 'PSA' | 'RBF' | 'MMD' | 'CA' | 'IA' | 'FSP' | 'AT' | 'fitnet';

/** Options of the feature terms; each term reads the ones its row lists (see docs/losses.md). */
export interface FeatureTermOptions {
  /** SA, PSA, RBF, MMD: 'fused' (default; tiled, never builds N x N matrices) or 'plain' (the reference formula). */
  impl?: 'fused' | 'plain';
  /** SA, PSA, CA: added to each norm before dividing. Default 1e-8. */
  eps?: number;
  /** SA, PSA, RBF, MMD, fused: pixels per tile side; 0 (default) chooses from the shapes and the device. */
  tile?: number;
  /** PSA, RBF, MMD: 'max' (default, as the authors') or 'avg' pooling before the transform. */
  pool?: 'max' | 'avg';
  /** PSA, RBF, MMD: pooling window and stride (ceil rounding). Default 1 (the authors' default: no pooling). */
  poolSize?: number;
  /** RBF: order of the Taylor expansion, an integer >= 0. Default 2. */
  P?: number;
  /** RBF: width of the Gaussian kernel, > 0. Default 5. */
  gamma?: number;
}

type OptionName = keyof FeatureTermOptions;

interface OptionRow {
  default: number | string;
  check: (value: unknown, name: string) => number | string;
}

const OPTIONS: Record<OptionName, OptionRow> = {
  impl: { default: 'fused', check: (v, n) => oneOf(v, n, ['fused', 'plain'] as const) },
  eps: { default: 1e-8, check: nonNegativeNumber },
  tile: { default: 0, check: nonNegativeInt },
  pool: { default: 'max', check: (v, n) => oneOf(v, n, ['max', 'avg'] as const) },
  poolSize: { default: 1, check: positiveInt },
  P: { default: 2, check: nonNegativeInt },
  gamma: { default: 5, check: positiveNumber },
};

/** One row of the table: a term's name, the options it takes, and what it does. */
export interface FeatureTermRow {
  type: FeatureType;
  options: readonly OptionName[];
  summary: string;
}

/** Every term, in the order the authors match their keywords (PSA, MMD, RBF, SA, CA, IA, FSP, AT, fitnet). */
export const FEATURE_TERMS: readonly FeatureTermRow[] = [
  { type: 'PSA', options: ['pool', 'poolSize', 'impl', 'eps', 'tile'], summary: 'spatial affinity of pooled maps' },
  { type: 'MMD', options: ['pool', 'poolSize', 'impl', 'tile'], summary: '|m_p - m_q| of pooled channel means over pixel pairs' },
  { type: 'RBF', options: ['pool', 'poolSize', 'P', 'gamma', 'impl', 'tile'], summary: 'Taylor-expanded Gaussian kernel of pooled pixel similarity' },
  { type: 'SA', options: ['impl', 'eps', 'tile'], summary: 'cosine similarity of every pair of pixels (FAKD)' },
  { type: 'CA', options: ['eps'], summary: 'cosine similarity of every pair of channels (equal channels)' },
  { type: 'IA', options: [], summary: 'row-normalised B x B Gram matrix of the samples' },
  { type: 'FSP', options: [], summary: 'flow matrix between consecutive positions (equal channels)' },
  { type: 'AT', options: [], summary: 'attention map: channel sum of squares, L2-normalised' },
  { type: 'fitnet', options: [], summary: 'the raw maps (equal channels and size)' },
];

export const FEATURE_TYPES: readonly FeatureType[] = FEATURE_TERMS.map((t) => t.type);

/** The row of `type`; E_ARG naming the known types otherwise. */
export function featureTerm(type: unknown, name = 'type'): FeatureTermRow {
  const t = oneOf(type, name, FEATURE_TYPES);
  return FEATURE_TERMS.find((row) => row.type === t) as FeatureTermRow;
}

/**
 * Checks a term's options (unknown keys and bad values are E_ARG; `extra` keys are allowed and left out)
 * and returns every option of the term, defaults filled in.
 */
export function termOptions(type: FeatureType, options: unknown, name: string, extra: readonly string[] = []): Record<string, number | string> {
  const row = featureTerm(type);
  const given = checkOptions(options, name, [...row.options, ...extra]);
  const out: Record<string, number | string> = {};
  for (const key of row.options) {
    const value = given[key];
    out[key] = value === undefined ? OPTIONS[key].default : OPTIONS[key].check(value, `${name}.${key}`);
  }
  return out;
}

/** The default value of an option (docs and the CLI's help). */
export function featureOptionDefault(option: OptionName): number | string {
  return OPTIONS[option].default;
}

/**
 * Parses the authors' command-line syntax `W1*T1+W2*T2` (e.g. `10*SA+1*AT`; a bare `SA` has weight 1)
 * into [{ type, weight }]. E_ARG on an unknown type, a bad or negative weight.
 */
export function parseFeatureSpec(spec: string, name = 'features'): { type: FeatureType; weight: number }[] {
  if (typeof spec !== 'string' || spec.trim() === '')
    throw new KDSError('E_ARG', `${name} must be a string such as '10*SA+1*AT', got ${JSON.stringify(spec)}`);
  return spec.split('+').map((part) => {
    const pieces = part.trim().split('*').map((p) => p.trim());
    if (pieces.length > 2 || pieces.some((p) => p === ''))
      throw new KDSError('E_ARG', `${name}: '${part.trim()}' must be WEIGHT*TYPE (e.g. 10*SA) or TYPE`);
    const [weightText, type] = pieces.length === 2 ? pieces : ['1', pieces[0]];
    const weight = Number(weightText);
    if (!/^[0-9.eE+-]+$/.test(weightText) || !Number.isFinite(weight) || weight < 0)
      throw new KDSError('E_ARG', `${name}: the weight of '${part.trim()}' must be a number >= 0, got '${weightText}'`);
    return { type: featureTerm(type, `${name} type`).type, weight };
  });
}
