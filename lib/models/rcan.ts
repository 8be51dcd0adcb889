// RCAN (Zhang et al. 2018): options, defaults (FAKD's feature taps among them), checks, FAKD's student and
// the CLI name, declared once.
import { positiveInt, positiveNumber } from '../validate';
import { atMost, kindOptions, featureGroups, ModelKind, scaleOption } from './kind';

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

export interface RcanSpec extends Required<RcanOptions> {
  architecture: 'rcan';
}

/** What an RCAN student may change; unset, it keeps the teacher's groups and channels with FAKD's 6 RCABs per group. */
export interface RcanStudentOptions {
  /** Residual groups (at most the teacher's). */
  nResgroups?: number;
  /** RCABs per group (at most the teacher's). Default 6. */
  nResblocks?: number;
  /** Feature channels (at most the teacher's). */
  nFeats?: number;
  /** Channel attention reduction. Default: the teacher's. */
  reduction?: number;
  /** Residual scaling. Default: the teacher's. */
  resScale?: number;
  /** Feature taps. Default: the rule above for the student's groups. */
  featureGroups?: number[];
}

/** RCAN's default taps: after round(3n/10) and round(7n/10) groups, at least 1. */
export function defaultRcanFeatureGroups(n: number): number[] {
  return [Math.max(1, Math.floor((3 * n + 5) / 10)), Math.max(1, Math.floor((7 * n + 5) / 10))];
}

const KEYS = ['scale', 'nResgroups', 'nResblocks', 'nFeats', 'reduction', 'resScale', 'rgbRange', 'featureGroups'] as const;

export const rcan: ModelKind<'rcan', RcanOptions, RcanSpec, RcanStudentOptions> = {
  name: 'rcan',
  spec(options = {}) {
    const o = kindOptions<RcanOptions>(options, 'rcan', KEYS);
    const nResgroups = positiveInt(o.nResgroups ?? 10, 'rcan: nResgroups');
    const nFeats = positiveInt(o.nFeats ?? 64, 'rcan: nFeats');
    return {
      architecture: 'rcan',
      scale: scaleOption(o.scale ?? 2, 'rcan'),
      nResgroups,
      nResblocks: positiveInt(o.nResblocks ?? 20, 'rcan: nResblocks'),
      nFeats,
      // channel attention squeezes to nFeats / reduction channels
      reduction: atMost(positiveInt(o.reduction ?? 16, 'rcan: reduction'), nFeats, 'rcan: reduction', 'nFeats'),
      resScale: positiveNumber(o.resScale ?? 1, 'rcan: resScale'),
      rgbRange: positiveNumber(o.rgbRange ?? 255, 'rcan: rgbRange'),
      featureGroups: featureGroups(o.featureGroups ?? defaultRcanFeatureGroups(nResgroups), nResgroups, 'rcan'),
    };
  },
  studentKeys: ['nResgroups', 'nResblocks', 'nFeats', 'reduction', 'resScale', 'featureGroups'],
  student: (teacher, options, size) => ({
    scale: teacher.scale,
    rgbRange: teacher.rgbRange,
    nResgroups: size('nResgroups', teacher.nResgroups),
    nResblocks: size('nResblocks', 6),
    nFeats: size('nFeats', teacher.nFeats),
    reduction: options.reduction ?? teacher.reduction,
    resScale: options.resScale ?? teacher.resScale,
    featureGroups: options.featureGroups,
  }),
  arch: {
    pattern: /^rcan-g(\d*[1-9]\d*)b(\d*[1-9]\d*)f(\d*[1-9]\d*)$/,
    help: 'rcan-g<groups>b<blocks>f<channels> (e.g. rcan-g10b20f64)',
    options: (m) => ({ nResgroups: Number(m[1]), nResblocks: Number(m[2]), nFeats: Number(m[3]) }),
  },
};
