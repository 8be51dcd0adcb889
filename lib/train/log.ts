// The JSON-lines log of a run: one object per line for every step, validation and checkpoint. It is the
// record the report is drawn from, so a resumed run first drops what came after its checkpoint.
import fs from 'node:fs';
import { writeFileAtomicSync } from '../atomic-file';
import { KDSError } from '../errors';

export interface StepRecord {
  type: 'step';
  step: number;
  lr: number;
  total: number;
  DS: number;
  TS: number;
  SA: number;
  /** Every feature term's unweighted value, by type (setLoss's features). */
  parts?: Record<string, number>;
  /** fp16 only, present when true: the gradients overflowed, the step was skipped and the loss scale lowered. */
  skipped?: true;
  /** Seconds since the start of this process's part of the run. */
  time: number;
}

export interface ValidationRecord {
  type: 'validation';
  step: number;
  psnr: number;
  ssim: number;
  /** Bicubic on the same images, when measured. */
  bicubic?: { psnr: number; ssim: number };
  time: number;
}

export interface EventRecord {
  type: 'start' | 'resume' | 'checkpoint' | 'end';
  step: number;
  time: number;
  [key: string]: unknown;
}

export type LogRecord = StepRecord | ValidationRecord | EventRecord;

export class JsonlLog {
  readonly path: string;
  #fd: number;

  /** Opens `path` for appending; with `keepUpTo`, first keeps only the records of steps <= keepUpTo. */
  constructor(path: string, keepUpTo?: number) {
    this.path = path;
    try {
      if (keepUpTo === undefined) {
        fs.writeFileSync(path, '');
      } else if (fs.existsSync(path)) {
        const kept = readLog(path).filter((r) => r.step <= keepUpTo && r.type !== 'end');
        writeFileAtomicSync(path, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
      }
      this.#fd = fs.openSync(path, 'a');
    } catch (err) {
      throw new KDSError('E_FILE', `cannot write the log '${path}': ${(err as Error).message}`, { cause: err });
    }
  }

  write(record: LogRecord): void {
    fs.writeSync(this.#fd, `${JSON.stringify(record)}\n`);
  }

  close(): void {
    fs.closeSync(this.#fd);
  }
}

/** Reads a log; a last line cut short by a crash is ignored. */
export function readLog(path: string): LogRecord[] {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new KDSError('E_FILE', `cannot read the log '${path}': ${(err as Error).message}`, { cause: err });
  }
  const records: LogRecord[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      records.push(JSON.parse(line) as LogRecord);
    } catch (err) {
      if (i < lines.length - 1) throw new KDSError('E_FILE', `the log '${path}' has a bad line ${i + 1}: ${(err as Error).message}`);
    }
  });
  return records;
}
