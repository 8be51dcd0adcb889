// fit on datasets: the data pipeline's sampler as a resumable batch source, and its evaluation as the
// validator (PSNR/SSIM on Y with bicubic beside it).
import { Dataset } from '../data/datasets';
import { createSampler } from '../data/sampler';
import { evaluate } from '../evaluate';
import type { Model } from '../models';
import { Scores } from '../evaluate';
import type { ValidationScores, Validator } from './validator';
import { BatchSource, seededBlocks } from './source';

export interface SamplingOptions {
  /** LR patch side. Default 48. */
  patchSize?: number;
  /** Patches per step. Default 16. */
  batchSize?: number;
  /** Seed of the patch choices. Default 1. */
  seed?: number;
  /** Flips and 90-degree rotations. Default true. */
  augment?: boolean;
  /** Batches prepared ahead. Default 2. */
  prefetch?: number;
}

/**
 * Random patches of `dataset`, resumable: block k of 1000 batches comes from a sampler seeded with
 * blockSeed(seed, k) (see {@link seededBlocks}).
 */
export function datasetSource(dataset: Dataset, options: SamplingOptions = {}): BatchSource {
  const { patchSize, batchSize, augment, prefetch } = options;
  return seededBlocks((seed) => createSampler(dataset, { patchSize, batchSize, augment, prefetch, seed, scale: dataset.scale }), options.seed ?? 1);
}

/** Scores the student on every image of `dataset`; bicubic is measured once and reported each time. */
export function datasetValidator(dataset: Dataset): Validator {
  let bicubic: Scores | undefined;
  return async (student: Model): Promise<ValidationScores> => {
    const e = await evaluate(student, dataset, { bicubic: bicubic === undefined });
    if (e.bicubic) bicubic = e.bicubic;
    return { psnr: e.mean.psnr, ssim: e.mean.ssim, bicubic };
  };
}

export function isDataset(value: unknown): value is Dataset {
  return value instanceof Dataset;
}
