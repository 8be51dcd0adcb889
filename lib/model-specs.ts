// Model hyper-parameters: option types, defaults, validation, and the student derived from a teacher.
// Pure data: the factories in models.ts turn a validated spec into a native model.
import { KDSError } from './errors';

/** EDSR (Lim et al. 2017) hyper-parameters; defaults are EDSR-PyTorch's baseline (r16f64, x2). */
export interface EdsrOptions {
  /** Upscaling factor: 2, 3, 4 or 8. Default 2. */
  scale?: number;
  /** Residual blocks in the body. Default 16. */
  nResblocks?: number;
  /** Feature channels. Default 64. */
  nFeats?: number;
  /** Residual scaling; EDSR's big r32f256 model uses 0.1. Default 1. */
  resScale?: number;
  /** Pixel value range. Default 255 (images on 0..255). */
  rgbRange?: number;
}

/** RCAN (Zhang et al. 2018) hyper-parameters; defaults are the published model (10 x 20 RCABs, 64 channels). */
export interface RcanOptions {
  /** Upscaling factor: 2, 3, 4 or 8. Default 2. */
  scale?: number;
  /** Residual groups. Default 10. */
  nResgroups?: number;
  /** Residual channel attention blocks (RCABs) per group. Default 20. */
  nResblocks?: number;
  /** Feature channels. Default 64. */
  nFeats?: number;
  /** Channel attention squeezes nFeats to nFeats / reduction. Default 16. */
  reduction?: number;
  /** Scales each RCAB's residual (the reference code ignores it: keep 1 to match it). Default 1. */
  resScale?: number;
  /** Pixel value range. Default 255. */
  rgbRange?: number;
  /**
   * Feature taps: after how many residual groups (1-based, increasing) a feature map is taken. Default:
   * round(3n/10) and round(7n/10) (at least 1): FAKD's groups 3 and 7 for n = 10.
   */
  featureGroups?: number[];
}

/** SAN (Dai et al. 2019) hyper-parameters; defaults are the published model (20 groups x 10 blocks, 64 channels). */
export interface SanOptions {
  /** Upscaling factor: 2, 3, 4 or 8. Default 2. */
  scale?: number;
  /** Local-source residual attention groups. Default 20. */
  nResgroups?: number;
  /** Residual blocks per group. Default 10. */
  nResblocks?: number;
  /** Feature channels (at least 8). Default 64. */
  nFeats?: number;
  /** Second-order channel attention squeezes nFeats to nFeats / reduction. Default 16. */
  reduction?: number;
  /** Inner channels of the non-local block. Default nFeats / 8 (the SAN release; FAKD's code used nFeats / 4). */
  nonLocalChannels?: number;
  /** Pixel value range. Default 255. */
  rgbRange?: number;
  /** Feature taps after these group counts. Default ceil(n/3) and ceil(2n/3): FAKD's 7 and 14 of 20, 2 and 4 of 6. */
  featureGroups?: number[];
}

export interface EdsrSpec extends Required<EdsrOptions> {
  architecture: 'edsr';
}
export interface RcanSpec extends Required<RcanOptions> {
  architecture: 'rcan';
}
export interface SanSpec extends Required<SanOptions> {
  architecture: 'san';
}
/** The complete hyper-parameters of a kds-built model (see {@link Model.spec}). */
export type ModelSpec = EdsrSpec | RcanSpec | SanSpec;

/**
 * What a student may change from its teacher; everything else (architecture, scale, rgbRange) is the
 * teacher's. Unset sizes take FAKD's student for that architecture, capped at the teacher's size:
 * EDSR 16 blocks x 64 channels, resScale 1; RCAN 6 RCABs per group; SAN 6 groups.
 */
export interface StudentOptions {
  nResblocks?: number;
  nFeats?: number;
  nResgroups?: number;
  resScale?: number;
  reduction?: number;
  nonLocalChannels?: number;
  featureGroups?: number[];
}

const SCALES = [2, 3, 4, 8];

function positiveInt(value: unknown, name: string, allowed?: number[]): number {
  if (!Number.isInteger(value) || (value as number) < 1)
    throw new KDSError('E_ARG', `${name} must be a positive integer, got ${String(value)}`);
  if (allowed && !allowed.includes(value as number))
    throw new KDSError('E_ARG', `${name} must be one of ${allowed.join(', ')}, got ${String(value)}`);
  return value as number;
}

function positiveNumber(value: unknown, name: string): number {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value))
    throw new KDSError('E_ARG', `${name} must be a positive number, got ${String(value)}`);
  return value;
}

// Rejects non-objects and unknown keys, so that a typo ('nResBlocks') is an error, not a silent default.
function checkObject(options: unknown, name: string, known: string[]): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new KDSError('E_ARG', `${name}: options must be an object, got ${options === null ? 'null' : typeof options}`);
  for (const key of Object.keys(options))
    if (!known.includes(key)) throw new KDSError('E_ARG', `${name}: unknown option '${key}': expected ${known.join(', ')}`);
}

function featureGroups(value: unknown, nResgroups: number, fallback: number[], name: string): number[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value) || value.length === 0)
    throw new KDSError('E_ARG', `${name}: featureGroups must be a non-empty array of group counts, got ${String(value)}`);
  value.forEach((g, i) => {
    if (!Number.isInteger(g) || g < 1 || g > nResgroups)
      throw new KDSError('E_ARG', `${name}: featureGroups[${i}] must be an integer between 1 and nResgroups (${nResgroups}), got ${String(g)}`);
    if (i > 0 && g < value[i - 1]) throw new KDSError('E_ARG', `${name}: featureGroups must be in increasing order, got [${value.join(', ')}]`);
  });
  return [...value];
}

/** RCAN's default taps: after round(3n/10) and round(7n/10) groups, at least 1. */
export function defaultRcanFeatureGroups(n: number): number[] {
  return [Math.max(1, Math.floor((3 * n + 5) / 10)), Math.max(1, Math.floor((7 * n + 5) / 10))];
}

/** SAN's default taps: after ceil(n/3) and ceil(2n/3) groups. */
export function defaultSanFeatureGroups(n: number): number[] {
  return [Math.ceil(n / 3), Math.ceil((2 * n) / 3)];
}

export function edsrSpec(options: EdsrOptions = {}): EdsrSpec {
  checkObject(options, 'edsr', ['scale', 'nResblocks', 'nFeats', 'resScale', 'rgbRange']);
  return {
    architecture: 'edsr',
    scale: positiveInt(options.scale ?? 2, 'edsr: scale', SCALES),
    nResblocks: positiveInt(options.nResblocks ?? 16, 'edsr: nResblocks'),
    nFeats: positiveInt(options.nFeats ?? 64, 'edsr: nFeats'),
    resScale: positiveNumber(options.resScale ?? 1, 'edsr: resScale'),
    rgbRange: positiveNumber(options.rgbRange ?? 255, 'edsr: rgbRange'),
  };
}

export function rcanSpec(options: RcanOptions = {}): RcanSpec {
  checkObject(options, 'rcan', ['scale', 'nResgroups', 'nResblocks', 'nFeats', 'reduction', 'resScale', 'rgbRange', 'featureGroups']);
  const nResgroups = positiveInt(options.nResgroups ?? 10, 'rcan: nResgroups');
  const nFeats = positiveInt(options.nFeats ?? 64, 'rcan: nFeats');
  const reduction = positiveInt(options.reduction ?? 16, 'rcan: reduction');
  if (reduction > nFeats) throw new KDSError('E_ARG', `rcan: reduction (${reduction}) must not exceed nFeats (${nFeats}): channel attention squeezes to nFeats / reduction channels`);
  return {
    architecture: 'rcan',
    scale: positiveInt(options.scale ?? 2, 'rcan: scale', SCALES),
    nResgroups,
    nResblocks: positiveInt(options.nResblocks ?? 20, 'rcan: nResblocks'),
    nFeats,
    reduction,
    resScale: positiveNumber(options.resScale ?? 1, 'rcan: resScale'),
    rgbRange: positiveNumber(options.rgbRange ?? 255, 'rcan: rgbRange'),
    featureGroups: featureGroups(options.featureGroups, nResgroups, defaultRcanFeatureGroups(nResgroups), 'rcan'),
  };
}

export function sanSpec(options: SanOptions = {}): SanSpec {
  checkObject(options, 'san', ['scale', 'nResgroups', 'nResblocks', 'nFeats', 'reduction', 'nonLocalChannels', 'rgbRange', 'featureGroups']);
  const nResgroups = positiveInt(options.nResgroups ?? 20, 'san: nResgroups');
  const nFeats = positiveInt(options.nFeats ?? 64, 'san: nFeats');
  if (nFeats < 8) throw new KDSError('E_ARG', `san: nFeats must be at least 8 (the non-local block's attention squeezes by 8), got ${nFeats}`);
  const reduction = positiveInt(options.reduction ?? 16, 'san: reduction');
  if (reduction > nFeats) throw new KDSError('E_ARG', `san: reduction (${reduction}) must not exceed nFeats (${nFeats})`);
  const nonLocalChannels = positiveInt(options.nonLocalChannels ?? Math.floor(nFeats / 8), 'san: nonLocalChannels');
  if (nonLocalChannels > nFeats) throw new KDSError('E_ARG', `san: nonLocalChannels (${nonLocalChannels}) must not exceed nFeats (${nFeats})`);
  return {
    architecture: 'san',
    scale: positiveInt(options.scale ?? 2, 'san: scale', SCALES),
    nResgroups,
    nResblocks: positiveInt(options.nResblocks ?? 10, 'san: nResblocks'),
    nFeats,
    reduction,
    nonLocalChannels,
    rgbRange: positiveNumber(options.rgbRange ?? 255, 'san: rgbRange'),
    featureGroups: featureGroups(options.featureGroups, nResgroups, defaultSanFeatureGroups(nResgroups), 'san'),
  };
}

// A spec checked and completed again: one passed in by hand may lack fields or hold bad values.
function normalise(spec: ModelSpec): ModelSpec {
  const { architecture, ...options } = spec;
  if (architecture === 'edsr') return edsrSpec(options);
  if (architecture === 'rcan') return rcanSpec(options);
  return sanSpec(options);
}

const STUDENT_KEYS: Record<ModelSpec['architecture'], (keyof StudentOptions)[]> = {
  edsr: ['nResblocks', 'nFeats', 'resScale'],
  rcan: ['nResgroups', 'nResblocks', 'nFeats', 'reduction', 'resScale', 'featureGroups'],
  san: ['nResgroups', 'nResblocks', 'nFeats', 'reduction', 'nonLocalChannels', 'featureGroups'],
};

/** The student's spec: the teacher's architecture, scale and rgbRange with smaller (or equal) sizes. */
export function studentSpec(teacherSpec: ModelSpec, options: StudentOptions = {}): ModelSpec {
  const teacher = normalise(teacherSpec);
  const allowed = STUDENT_KEYS[teacher.architecture];
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new KDSError('E_ARG', `studentOf options must be an object, got ${options === null ? 'null' : typeof options}`);
  for (const key of Object.keys(options)) {
    if ((options as Record<string, unknown>)[key] === undefined) continue;
    if (!allowed.includes(key as keyof StudentOptions))
      throw new KDSError('E_ARG', `studentOf: option '${key}' does not apply to a ${teacher.architecture} student (the student keeps the teacher's scale and rgbRange); allowed: ${allowed.join(', ')}`);
  }
  const notLarger = (key: 'nResblocks' | 'nFeats' | 'nResgroups', value: number): number => {
    const limit = (teacher as unknown as Record<string, number>)[key];
    if (value > limit)
      throw new KDSError('E_ARG', `studentOf: ${key} ${value} exceeds the teacher's ${limit}; a student has at most the teacher's blocks, groups and channels`);
    return value;
  };
  const size = (key: 'nResblocks' | 'nFeats' | 'nResgroups', fakdDefault: number): number => {
    const given = options[key];
    if (given === undefined) return Math.min(fakdDefault, (teacher as unknown as Record<string, number>)[key]);
    return notLarger(key, positiveInt(given, `studentOf: ${key}`));
  };
  switch (teacher.architecture) {
    case 'edsr':
      return edsrSpec({
        scale: teacher.scale,
        rgbRange: teacher.rgbRange,
        nResblocks: size('nResblocks', 16),
        nFeats: size('nFeats', 64),
        resScale: options.resScale ?? 1,
      });
    case 'rcan':
      return rcanSpec({
        scale: teacher.scale,
        rgbRange: teacher.rgbRange,
        nResgroups: size('nResgroups', teacher.nResgroups),
        nResblocks: size('nResblocks', 6),
        nFeats: size('nFeats', teacher.nFeats),
        reduction: options.reduction ?? teacher.reduction,
        resScale: options.resScale ?? teacher.resScale,
        featureGroups: options.featureGroups,
      });
    case 'san': {
      const nFeats = size('nFeats', teacher.nFeats);
      return sanSpec({
        scale: teacher.scale,
        rgbRange: teacher.rgbRange,
        nResgroups: size('nResgroups', 6),
        nResblocks: size('nResblocks', teacher.nResblocks),
        nFeats,
        reduction: options.reduction ?? teacher.reduction,
        nonLocalChannels: options.nonLocalChannels ?? (nFeats === teacher.nFeats ? teacher.nonLocalChannels : undefined),
        featureGroups: options.featureGroups,
      });
    }
  }
}
