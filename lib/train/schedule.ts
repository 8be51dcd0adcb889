// Learning-rate schedules. Each is a pure function of the step, so a checkpoint needs only the step
// count (and the options, to check that a resumed run uses the same schedule).
import { KDSError } from '../errors';
import { describe } from '../tensor';

/** FAKD's schedule: `lr` halved (times `gamma`) at each milestone step. */
export interface MultiStepSchedule {
  type: 'multistep';
  lr?: number;
  /** Steps after which the rate is multiplied by gamma. Default: halfway and three quarters of the run. */
  milestones?: number[];
  /** Default 0.5 (halving, as FAKD and EDSR). */
  gamma?: number;
}

/** Cosine decay from `lr` to `minLr` over the run, after an optional linear warm-up. */
export interface CosineSchedule {
  type: 'cosine';
  lr?: number;
  /** Default 0. */
  minLr?: number;
  /** Steps of linear warm-up from lr/warmup to lr. Default 0. */
  warmup?: number;
}

export interface ConstantSchedule {
  type: 'constant';
  lr?: number;
}

export type ScheduleOptions = MultiStepSchedule | CosineSchedule | ConstantSchedule;

/** A checked schedule with every default filled in; `rate(step)` is the rate used for step `step` (1-based). */
export interface Schedule {
  readonly options: Required<MultiStepSchedule> | Required<CosineSchedule> | Required<ConstantSchedule>;
  rate(step: number): number;
}

export const DEFAULT_LR = 1e-4;

function positiveNumber(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw new KDSError('E_ARG', `schedule.${name} must be a finite number > 0, got ${describe(value)}`);
  return value;
}

function checkKeys(options: object, allowed: string[], type: string): void {
  for (const key of Object.keys(options))
    if (!allowed.includes(key)) throw new KDSError('E_ARG', `unknown option '${key}' for a ${type} schedule: expected ${allowed.join(', ')}`);
}

/**
 * Checks schedule options for a run of `steps` steps and fills in the defaults. The default schedule
 * is multistep halving at 50% and 75% of the run (FAKD halves at fixed epochs; fractions carry that
 * shape to runs of any length).
 */
export function createSchedule(options: ScheduleOptions | undefined, steps: number): Schedule {
  const o = options ?? { type: 'multistep' };
  if (typeof o !== 'object' || o === null) throw new KDSError('E_ARG', `schedule must be an object such as { type: 'cosine' }, got ${describe(o)}`);
  const lr = positiveNumber(o.lr ?? DEFAULT_LR, 'lr');
  switch (o.type) {
    case 'constant': {
      checkKeys(o, ['type', 'lr'], 'constant');
      return { options: { type: 'constant', lr }, rate: () => lr };
    }
    case 'multistep': {
      checkKeys(o, ['type', 'lr', 'milestones', 'gamma'], 'multistep');
      // Default: 50% and 75% of the run; short runs keep only the distinct ones before the last step.
      const milestones = o.milestones ?? [...new Set([Math.round(steps / 2), Math.round((3 * steps) / 4)])].filter((m) => m > 0 && m < steps);
      if (!Array.isArray(milestones) || !milestones.every((m) => Number.isInteger(m) && m > 0))
        throw new KDSError('E_ARG', `schedule.milestones must be an array of positive integers (steps), got ${describe(milestones)}`);
      for (let i = 1; i < milestones.length; i++)
        if (milestones[i] <= milestones[i - 1]) throw new KDSError('E_ARG', `schedule.milestones must increase, got [${milestones.join(', ')}]`);
      const gamma = positiveNumber(o.gamma ?? 0.5, 'gamma');
      return {
        options: { type: 'multistep', lr, milestones: [...milestones], gamma },
        // The milestone step itself still uses the old rate: it "happens after" that step.
        rate: (step) => lr * gamma ** milestones.filter((m) => step > m).length,
      };
    }
    case 'cosine': {
      checkKeys(o, ['type', 'lr', 'minLr', 'warmup'], 'cosine');
      const minLr = o.minLr ?? 0;
      if (typeof minLr !== 'number' || !Number.isFinite(minLr) || minLr < 0 || minLr > lr)
        throw new KDSError('E_ARG', `schedule.minLr must be a number from 0 to lr (${lr}), got ${describe(minLr)}`);
      const warmup = o.warmup ?? 0;
      if (!Number.isInteger(warmup) || warmup < 0 || warmup >= Math.max(1, steps))
        throw new KDSError('E_ARG', `schedule.warmup must be an integer from 0 to steps - 1 (${steps - 1}), got ${describe(warmup)}`);
      return {
        options: { type: 'cosine', lr, minLr, warmup },
        rate: (step) => {
          if (step <= warmup) return (lr * step) / warmup;
          const t = Math.min(1, (step - 1 - warmup) / Math.max(1, steps - 1 - warmup));
          return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * t));
        },
      };
    }
    default:
      throw new KDSError('E_ARG', `schedule.type must be 'multistep', 'cosine' or 'constant', got ${describe((o as { type?: unknown }).type)}`);
  }
}
