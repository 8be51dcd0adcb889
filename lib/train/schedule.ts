// Learning-rate schedules. Each is a pure function of the step, so a checkpoint needs only the step
// count (and the options, to check that a resumed run uses the same schedule).
import { KDSError } from '../errors';
import { checkOptions, intInRange, invalidParameterError, isPlainObject, numberInRange, oneOf, positiveNumber } from '../validate';

/** FAKD's schedule: `lr` halved (times `gamma`) at each milestone step. */
export interface MultiStepSchedule {
  type: 'multistep';
  lr?: number;
  /** Steps after which the rate is multiplied by gamma. Default: halfway and three quarters of the run. */
  milestones?: number[];
  /** Default 0.5 (halving, as FAKD and EDSR). */
  gamma?: number;
  /** Steps of linear warm-up from lr/warmup to lr (the milestones still count from step 1). Default 0. */
  warmup?: number;
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
  /** Steps of linear warm-up from lr/warmup to lr. Default 0. */
  warmup?: number;
}

export type ScheduleOptions = MultiStepSchedule | CosineSchedule | ConstantSchedule;

/** A checked schedule with every default filled in; `rate(step)` is the rate used for step `step` (1-based). */
export interface Schedule {
  // warm-up is listed for multistep and constant schedules only when it is on, so that the options of
  // runs without it (and their checkpoints) stay as they were.
  readonly options: (Required<Omit<MultiStepSchedule, 'warmup'>> & { warmup?: number }) | Required<CosineSchedule> | (Required<Omit<ConstantSchedule, 'warmup'>> & { warmup?: number });
  rate(step: number): number;
}

export const DEFAULT_LR = 1e-4;

const KEYS = { constant: ['type', 'lr', 'warmup'], multistep: ['type', 'lr', 'milestones', 'gamma', 'warmup'], cosine: ['type', 'lr', 'minLr', 'warmup'] } as const;

/** `rate` with a linear warm-up over its first `warmup` steps (lr * step / warmup, reaching the schedule's rate). */
function warmedUp(rate: (step: number) => number, warmup: number): (step: number) => number {
  return warmup > 0 ? (step) => (step <= warmup ? (rate(step) * step) / warmup : rate(step)) : rate;
}

/**
 * Checks schedule options for a run of `steps` steps and fills in the defaults. The default schedule
 * is multistep halving at 50% and 75% of the run (FAKD halves at fixed epochs; fractions carry that
 * shape to runs of any length).
 */
export function createSchedule(options: ScheduleOptions | undefined, steps: number): Schedule {
  const o = options ?? { type: 'multistep' };
  if (!isPlainObject(o)) throw invalidParameterError('schedule', "an object such as { type: 'cosine' }", o);
  const type = oneOf(o.type, 'schedule.type', ['multistep', 'cosine', 'constant']);
  checkOptions(o, `${type} schedule`, KEYS[type]);
  const lr = positiveNumber(o.lr ?? DEFAULT_LR, 'schedule.lr');
  const warmup = intInRange(o.warmup ?? 0, 'schedule.warmup', 0, Math.max(1, steps) - 1);
  const withWarmup = warmup > 0 ? { warmup } : {};
  switch (o.type) {
    case 'constant': {
      return { options: { type: 'constant', lr, ...withWarmup }, rate: warmedUp(() => lr, warmup) };
    }
    case 'multistep': {
      // Default: 50% and 75% of the run; short runs keep only the distinct ones before the last step.
      const milestones = o.milestones ?? [...new Set([Math.round(steps / 2), Math.round((3 * steps) / 4)])].filter((m) => m > 0 && m < steps);
      if (!Array.isArray(milestones) || !milestones.every((m) => Number.isInteger(m) && m > 0))
        throw invalidParameterError('schedule.milestones', 'an array of positive integers (steps)', milestones);
      for (let i = 1; i < milestones.length; i++)
        if (milestones[i] <= milestones[i - 1]) throw new KDSError('E_ARG', `schedule.milestones must increase, got [${milestones.join(', ')}]`);
      const gamma = positiveNumber(o.gamma ?? 0.5, 'schedule.gamma');
      return {
        options: { type: 'multistep', lr, milestones: [...milestones], gamma, ...withWarmup },
        // The milestone step itself still uses the old rate: it "happens after" that step.
        rate: warmedUp((step) => lr * gamma ** milestones.filter((m) => step > m).length, warmup),
      };
    }
    case 'cosine': {
      const minLr = numberInRange(o.minLr ?? 0, 'schedule.minLr', 0, lr);
      return {
        options: { type: 'cosine', lr, minLr, warmup },
        rate: (step) => {
          if (step <= warmup) return (lr * step) / warmup;
          const t = Math.min(1, (step - 1 - warmup) / Math.max(1, steps - 1 - warmup));
          return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * t));
        },
      };
    }
  }
}
