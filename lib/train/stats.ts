// Paired comparisons over seeds: the mean difference and its Student-t confidence interval.

/** The mean of paired differences with a two-sided confidence interval (Student's t, n - 1 degrees of freedom). */
export interface PairedInterval {
  n: number;
  mean: number;
  /** Sample standard deviation of the differences (NaN for n < 2). */
  sd: number;
  /** Lower and upper end of the interval (NaN for n < 2: one pair has no spread to measure). */
  low: number;
  high: number;
  /** The interval's confidence level, e.g. 0.95. */
  level: number;
}

// Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (t_{0.975, df}).
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101,
  2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** t_{0.975, df}; beyond 30 degrees of freedom the normal quantile with a first-order correction. */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) return Number.NaN;
  if (df <= T975.length) return T975[df - 1];
  return 1.959964 + 2.37 / df;
}

/** The 95% interval of the mean of `diffs` (paired differences, one per seed). */
export function pairedInterval(diffs: readonly number[]): PairedInterval {
  const n = diffs.length;
  const mean = n > 0 ? diffs.reduce((a, b) => a + b, 0) / n : Number.NaN;
  if (n < 2) return { n, mean, sd: Number.NaN, low: Number.NaN, high: Number.NaN, level: 0.95 };
  const sd = Math.sqrt(diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / (n - 1));
  const half = tQuantile975(n - 1) * sd / Math.sqrt(n);
  return { n, mean, sd, low: mean - half, high: mean + half, level: 0.95 };
}

/** '+0.123 dB [+0.050, +0.196]' */
export function formatInterval(i: PairedInterval, digits = 3, unit = ' dB'): string {
  const s = (x: number) => (Number.isNaN(x) ? 'n/a' : `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`);
  return `${s(i.mean)}${unit} [${s(i.low)}, ${s(i.high)}]`;
}
