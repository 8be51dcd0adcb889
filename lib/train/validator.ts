// How fit measures the student between steps: any function of this shape (train/data.ts makes one from a
// dataset).
import type { Model } from '../models';

/** Scores of the student on validation images. */
export interface ValidationScores {
  psnr: number;
  ssim: number;
  bicubic?: { psnr: number; ssim: number };
}

/** Measures the student; fit calls it between steps (the student is not training then). */
export type Validator = (student: Model) => Promise<ValidationScores>;
