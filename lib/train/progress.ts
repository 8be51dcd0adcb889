// What a person watches while fit runs: a live bar on a terminal, plain lines elsewhere (CI logs).
import { oneOf } from '../validate';

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

export interface ProgressStep {
  step: number;
  totalSteps: number;
  /** Steps per second over this process's steps so far (validation time excluded). */
  stepsPerSecond: number;
  lr: number;
  losses: { total: number; DS: number; TS: number; SA: number };
  lastPsnr?: number;
}

export interface Progress {
  step(p: ProgressStep): void;
  /** A line that must not be overwritten (validation, checkpoint, resume). */
  note(text: string): void;
  end(): void;
}

/** A writable text stream (process.stderr by default). */
export interface TextStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(r)}` : `${two(m)}:${two(r)}`;
}

function describeStep(p: ProgressStep): string {
  const eta = p.stepsPerSecond > 0 ? (p.totalSteps - p.step) / p.stepsPerSecond : NaN;
  const l = p.losses;
  const parts = [
    `${p.stepsPerSecond.toFixed(2)} steps/s`,
    `ETA ${formatDuration(eta)}`,
    `loss ${l.total.toFixed(4)} (DS ${l.DS.toFixed(3)} TS ${l.TS.toFixed(3)} SA ${l.SA.toFixed(4)})`,
    `lr ${p.lr.toExponential(2)}`,
  ];
  if (p.lastPsnr !== undefined) parts.push(`val ${p.lastPsnr.toFixed(2)} dB`);
  return parts.join('  ');
}

/**
 * 'bar' redraws one line in place; 'lines' prints a line every `every` steps (and on the last step);
 * 'auto' picks 'bar' when the stream is a terminal. `every` defaults to about 20 lines per run.
 */
export function createProgress(mode: ProgressMode = 'auto', stream: TextStream = process.stderr, every?: number): Progress {
  oneOf(mode, 'progress', ['auto', 'bar', 'lines', 'none']);
  if (mode === 'none') return { step() {}, note() {}, end() {} };
  const bar = mode === 'bar' || (mode === 'auto' && stream.isTTY === true);
  if (!bar) {
    return {
      step(p) {
        const n = every ?? Math.max(1, Math.round(p.totalSteps / 20));
        if (p.step % n === 0 || p.step === p.totalSteps) stream.write(`step ${p.step}/${p.totalSteps}  ${describeStep(p)}\n`);
      },
      note(text) {
        stream.write(`${text}\n`);
      },
      end() {},
    };
  }
  let drawn = false;
  let lastDraw = 0;
  const clear = () => {
    if (drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };
  return {
    step(p) {
      const now = Date.now();
      if (p.step !== p.totalSteps && now - lastDraw < 100) return; // at most 10 redraws a second
      lastDraw = now;
      const width = 24;
      const filled = Math.round((width * p.step) / p.totalSteps);
      const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.step}/${p.totalSteps}  ${describeStep(p)}`;
      const columns = stream.columns ?? 160;
      clear();
      stream.write(line.length > columns - 1 ? line.slice(0, columns - 1) : line);
      drawn = true;
    },
    note(text) {
      clear();
      stream.write(`${text}\n`);
    },
    end() {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}
