// SAN (Dai et al. 2019): options, defaults (FAKD's feature taps among them), checks, FAKD's student and
// the CLI name, declared once.
import { invalidParameterError, positiveInt, positiveNumber } from '../validate';
import { atMost, kindOptions, featureGroups, ModelKind, scaleOption } from './kind';

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

export interface SanSpec extends Required<SanOptions> {
  architecture: 'san';
}

/** What a SAN student may change; unset, it keeps the teacher's blocks and channels with FAKD's 6 groups. */
export interface SanStudentOptions {
  /** Groups (at most the teacher's). Default 6. */
  nResgroups?: number;
  /** Residual blocks per group (at most the teacher's). */
  nResblocks?: number;
  /** Feature channels (at most the teacher's). */
  nFeats?: number;
  /** Second-order channel attention reduction. Default: the teacher's. */
  reduction?: number;
  /** Non-local inner channels. Default: the teacher's when the channels are the teacher's, else nFeats / 8. */
  nonLocalChannels?: number;
  /** Feature taps. Default: the rule above for the student's groups. */
  featureGroups?: number[];
}

/** SAN's default taps: after ceil(n/3) and ceil(2n/3) groups. */
export function defaultSanFeatureGroups(n: number): number[] {
  return [Math.ceil(n / 3), Math.ceil((2 * n) / 3)];
}

const KEYS = ['scale', 'nResgroups', 'nResblocks', 'nFeats', 'reduction', 'nonLocalChannels', 'rgbRange', 'featureGroups'] as const;

export const san: ModelKind<'san', SanOptions, SanSpec, SanStudentOptions> = {
  name: 'san',
  spec(options = {}) {
    const o = kindOptions<SanOptions>(options, 'san', KEYS);
    const nResgroups = positiveInt(o.nResgroups ?? 20, 'san: nResgroups');
    const nFeats = positiveInt(o.nFeats ?? 64, 'san: nFeats');
    // the non-local block's attention squeezes the channels by 8
    if (nFeats < 8) throw invalidParameterError('san: nFeats', "at least 8 (the non-local block's attention squeezes by 8)", nFeats);
    return {
      architecture: 'san',
      scale: scaleOption(o.scale ?? 2, 'san'),
      nResgroups,
      nResblocks: positiveInt(o.nResblocks ?? 10, 'san: nResblocks'),
      nFeats,
      reduction: atMost(positiveInt(o.reduction ?? 16, 'san: reduction'), nFeats, 'san: reduction', 'nFeats'),
      nonLocalChannels: atMost(positiveInt(o.nonLocalChannels ?? Math.floor(nFeats / 8), 'san: nonLocalChannels'), nFeats, 'san: nonLocalChannels', 'nFeats'),
      rgbRange: positiveNumber(o.rgbRange ?? 255, 'san: rgbRange'),
      featureGroups: featureGroups(o.featureGroups ?? defaultSanFeatureGroups(nResgroups), nResgroups, 'san'),
    };
  },
  studentKeys: ['nResgroups', 'nResblocks', 'nFeats', 'reduction', 'nonLocalChannels', 'featureGroups'],
  student: (teacher, options, size) => {
    const nFeats = size('nFeats', teacher.nFeats);
    return {
      scale: teacher.scale,
      rgbRange: teacher.rgbRange,
      nResgroups: size('nResgroups', 6),
      nResblocks: size('nResblocks', teacher.nResblocks),
      nFeats,
      reduction: options.reduction ?? teacher.reduction,
      nonLocalChannels: options.nonLocalChannels ?? (nFeats === teacher.nFeats ? teacher.nonLocalChannels : undefined),
      featureGroups: options.featureGroups,
    };
  },
  arch: {
    pattern: /^san-g(\d*[1-9]\d*)b(\d*[1-9]\d*)f(\d*[1-9]\d*)$/,
    help: 'san-g<groups>b<blocks>f<channels> (e.g. san-g20b10f64)',
    options: (m) => ({ nResgroups: Number(m[1]), nResblocks: Number(m[2]), nFeats: Number(m[3]) }),
  },
};
