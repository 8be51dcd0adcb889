// Teacher-labelled training data: patches of photographs given to the student as inputs, with the
// teacher's output on the same patch as the only target. Two uses:
// - data upcycling (DUKD, Zhang et al., ECCV 2024): patches of the training HR photographs themselves
//   ("zoom-in": a region seen at a finer scale than any LR patch),
// - distillation on unlabelled photographs: any folder of images, no HR counterparts needed.
// The teacher-labelled patches are mixed into every batch with a fixed ratio next to ordinary LR/HR
// pairs, so DS (to HR, here the teacher's output) and TS see both kinds.
import { Dataset } from '../data/datasets';
import { createSampler } from '../data/sampler';
import type { Model } from '../models';
import type { TensorData } from '../tensor';
import { boolean, checkOptions, numberInRange, positiveInt } from '../validate';
import { KDSError } from '../errors';
import { datasetSource } from './data';
import { Batch, BatchSource, disposeBatch, seededBlocks } from './source';

export interface TeacherLabelledOptions {
  /** The teacher whose output on a patch is that patch's target. */
  teacher: Model;
  /** Where the input patches come from: the training photographs (upcycling) or a folder of any photographs. */
  photos: Dataset;
  /** Fraction of each batch that is teacher-labelled, in [0, 1]. 1: no ordinary pairs at all. */
  ratio: number;
  /** LR patch side (the teacher-labelled patches have the same side). */
  patchSize: number;
  batchSize: number;
  /** Seed of both patch streams. */
  seed: number;
  /** Flips and 90-degree rotations of every patch. Default true. */
  augment?: boolean;
  /**
   * Colour inversion (v -> 255 - v) of every second teacher-labelled patch and of its target: an
   * invertible augmentation (the L1 losses are unchanged by inverting both). Default false.
   */
  invert?: boolean;
}

const KEYS = ['teacher', 'photos', 'ratio', 'patchSize', 'batchSize', 'seed', 'augment', 'invert'];

/** Patches whose targets are the teacher's outputs. A separate stream so it never shifts the pairs' stream. */
const LABELLED_SEED_OFFSET = 0x5eed;

/**
 * A resumable batch source mixing ordinary LR/HR pairs of `pairs` with teacher-labelled patches of
 * `options.photos`: round(ratio x batchSize) of each batch are teacher-labelled (placed after the pairs).
 * The pairs come from the same stream `fit` would draw for `pairs` with the same seed, so recipes of one
 * seed see the same ordinary patches.
 */
export function teacherLabelledSource(pairs: Dataset, options: TeacherLabelledOptions): BatchSource {
  const o = checkOptions(options, 'teacher-labelled data', KEYS) as unknown as TeacherLabelledOptions;
  if (!(o.photos instanceof Dataset)) throw new KDSError('E_ARG', 'teacher-labelled data: photos must be a kds Dataset');
  if (!(pairs instanceof Dataset)) throw new KDSError('E_ARG', 'teacher-labelled data: the training pairs must be a kds Dataset');
  if (o.photos.scale !== pairs.scale)
    throw new KDSError('E_ARG', `teacher-labelled data: the photographs' scale ${o.photos.scale} differs from the training data's ${pairs.scale}`);
  if (o.teacher?.scale != null && o.teacher.scale !== pairs.scale)
    throw new KDSError('E_SHAPE', `teacher-labelled data: the teacher upscales x${o.teacher.scale}, the training data is x${pairs.scale}`);
  const ratio = numberInRange(o.ratio, 'ratio', 0, 1);
  const batchSize = positiveInt(o.batchSize, 'batchSize');
  const patchSize = positiveInt(o.patchSize, 'patchSize');
  const augment = boolean(o.augment ?? true, 'augment');
  const invert = boolean(o.invert ?? false, 'invert');
  const labelled = Math.round(batchSize * ratio);
  const ordinary = batchSize - labelled;

  const pairSource = ordinary > 0 ? datasetSource(pairs, { patchSize, batchSize: ordinary, seed: o.seed, augment }) : undefined;
  const photoSource = labelled > 0
    ? seededBlocks(
      (seed) => createSampler(o.photos, { patchSize, batchSize: labelled, seed, augment, crops: 'photo', scale: pairs.scale }),
      (o.seed + LABELLED_SEED_OFFSET) >>> 0,
    )
    : undefined;

  const label = async (): Promise<{ lr: TensorData; hr: TensorData }> => {
    const crops = await (photoSource as BatchSource).next();
    try {
      const out = await o.teacher.forward(crops.lr);
      const target = out.output;
      out.features.forEach((f) => f.dispose());
      try {
        const lr = toData(crops.lr), hr = { data: target.toFloat32Array(), shape: target.shape };
        if (invert) invertEverySecond(lr, hr);
        return { lr, hr };
      } finally {
        target.dispose();
      }
    } finally {
      disposeBatch(crops);
    }
  };

  return {
    async next(): Promise<Batch> {
      if (!pairSource) return label();
      const pair = await pairSource.next();
      if (!photoSource) return pair;
      try {
        const extra = await label();
        return { lr: concat(toData(pair.lr), extra.lr), hr: concat(toData(pair.hr), extra.hr) };
      } finally {
        disposeBatch(pair);
      }
    },
    state: () => ({ pairs: pairSource?.state() ?? null, photos: photoSource?.state() ?? null }),
    async restore(state: unknown) {
      const s = state as { pairs?: unknown; photos?: unknown } | null;
      if (!s || typeof s !== 'object') throw new KDSError('E_STATE', `the checkpoint's teacher-labelled data state ${JSON.stringify(state)} does not fit this run`);
      if (pairSource) await pairSource.restore(s.pairs);
      if (photoSource) await photoSource.restore(s.photos);
    },
    close() {
      pairSource?.close?.();
      photoSource?.close?.();
    },
  };
}

function toData(t: Batch['lr']): TensorData {
  if ('toFloat32Array' in t) return { data: t.toFloat32Array(), shape: t.shape };
  return t;
}

// Stacks two batches along the batch dimension (one copy of each: batches are small).
function concat(a: TensorData, b: TensorData): TensorData {
  const data = new Float32Array(a.data.length + b.data.length);
  data.set(a.data);
  data.set(b.data, a.data.length);
  return { data, shape: [a.shape[0] + b.shape[0], ...a.shape.slice(1)] };
}

function invertEverySecond(lr: TensorData, hr: TensorData): void {
  const n = lr.shape[0];
  const lrSize = lr.data.length / n, hrSize = hr.data.length / n;
  for (let i = 1; i < n; i += 2) {
    for (let k = i * lrSize; k < (i + 1) * lrSize; k++) lr.data[k] = 255 - lr.data[k];
    for (let k = i * hrSize; k < (i + 1) * hrSize; k++) hr.data[k] = 255 - hr.data[k];
  }
}
