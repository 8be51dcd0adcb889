// What a study returns (and its report shows): the shapes study.ts fills and study-report.ts reads.
import type { Scores } from '../evaluate';
import type { PairedInterval } from './stats';

/** One recipe trained with one seed, scored on the held-out photographs. */
export interface RunResult {
  recipe: string;
  seed: number;
  steps: number;
  trainSeconds: number;
  /** The final weights. */
  final: Scores & { images: number[] };
  /** The weights with the best validation PSNR (the final ones when there is no validation). */
  best: Scores & { images: number[]; step: number };
}

export interface RecipeSummary {
  recipe: string;
  description: string;
  seeds: number;
  /** Mean over seeds. */
  final: Scores;
  best: Scores;
  /** Paired differences with scratch, per seed in seed order, and their intervals; absent for scratch. */
  vsScratch?: {
    final: { psnr: PairedInterval; ssim: PairedInterval; psnrPerSeed: number[] };
    best: { psnr: PairedInterval; ssim: PairedInterval; psnrPerSeed: number[] };
  };
}

export interface StudyResult {
  headline: 'best' | 'final';
  seeds: number[];
  steps: number;
  bicubic: Scores;
  teacher: Scores;
  recipes: RecipeSummary[];
  runs: RunResult[];
  /** One sentence the numbers support. */
  verdict: string;
  files: { json: string; markdown: string; png: string };
}
