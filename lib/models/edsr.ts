// EDSR (Lim et al. 2017): options, defaults, checks, FAKD's student and the CLI name, declared once.
import { positiveInt, positiveNumber } from '../validate';
import { kindOptions, ModelKind, scaleOption } from './kind';

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

export interface EdsrSpec extends Required<EdsrOptions> {
  architecture: 'edsr';
}

/** What an EDSR student may change; unset sizes are FAKD's student (16 blocks x 64 channels), resScale 1. */
export interface EdsrStudentOptions {
  /** Residual blocks (at most the teacher's). */
  nResblocks?: number;
  /** Feature channels (at most the teacher's). */
  nFeats?: number;
  /** Residual scaling. Default 1. */
  resScale?: number;
}

const KEYS = ['scale', 'nResblocks', 'nFeats', 'resScale', 'rgbRange'] as const;

export const edsr: ModelKind<'edsr', EdsrOptions, EdsrSpec, EdsrStudentOptions> = {
  name: 'edsr',
  spec(options = {}) {
    const o = kindOptions<EdsrOptions>(options, 'edsr', KEYS);
    return {
      architecture: 'edsr',
      scale: scaleOption(o.scale ?? 2, 'edsr'),
      nResblocks: positiveInt(o.nResblocks ?? 16, 'edsr: nResblocks'),
      nFeats: positiveInt(o.nFeats ?? 64, 'edsr: nFeats'),
      resScale: positiveNumber(o.resScale ?? 1, 'edsr: resScale'),
      rgbRange: positiveNumber(o.rgbRange ?? 255, 'edsr: rgbRange'),
    };
  },
  studentKeys: ['nResblocks', 'nFeats', 'resScale'],
  student: (teacher, options, size) => ({
    scale: teacher.scale,
    rgbRange: teacher.rgbRange,
    nResblocks: size('nResblocks', 16),
    nFeats: size('nFeats', 64),
    resScale: options.resScale ?? 1,
  }),
  arch: {
    pattern: /^edsr-r(\d*[1-9]\d*)f(\d*[1-9]\d*)(?:-rs(\d*\.?\d+))?$/,
    help: 'edsr-r<blocks>f<channels>[-rs<resScale>] (e.g. edsr-r16f64)',
    options: (m) => ({ nResblocks: Number(m[1]), nFeats: Number(m[2]), resScale: m[3] ? Number(m[3]) : 1 }),
  },
};
