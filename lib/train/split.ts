// A validation split of the training photographs: a few photographs leave training and their central
// crops become the validation set that chooses a run's weights, so the held-out photographs are never
// looked at before the final scoring. Crops keep validation cheap on large photographs.
import fs from 'node:fs';
import path from 'node:path';
import { Dataset, datasets } from '../data/datasets';
import { KDSError } from '../errors';
import { positiveInt } from '../validate';
import { sharpModule } from './charts';

export interface SplitOptions {
  /** Photographs moved to validation, spread evenly over the sorted list. */
  count: number;
  /** Side of the central HR crop of each validation photograph, in pixels (smaller photographs stay whole). */
  crop: number;
  /** Where the crops are written (PNG). */
  dir: string;
}

/** Splits `photos` (a folder dataset) into training photographs and validation crops. */
export async function validationSplit(photos: Dataset, options: SplitOptions): Promise<{ train: Dataset; val: Dataset }> {
  const count = positiveInt(options.count, 'validation count');
  const crop = positiveInt(options.crop, 'validation crop');
  if (count >= photos.length)
    throw new KDSError('E_ARG', `a validation split of ${count} photographs leaves none of the ${photos.length} for training`);
  const picked = Array.from({ length: count }, (_, k) => Math.floor(((k + 0.5) * photos.length) / count));
  fs.mkdirSync(options.dir, { recursive: true });
  for (const old of fs.readdirSync(options.dir)) fs.rmSync(path.join(options.dir, old), { force: true });
  const sharp = sharpModule();
  const side = crop - (crop % photos.scale);
  for (const i of picked) {
    const file = photos.files(i).hr;
    const image = sharp(file);
    const { width = 0, height = 0 } = await image.metadata();
    const w = Math.min(side, width - (width % photos.scale)), h = Math.min(side, height - (height % photos.scale));
    const out = path.join(options.dir, `${path.basename(file, path.extname(file))}.png`);
    await image.extract({ left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h }).png().toFile(out);
  }
  const rest = Array.from({ length: photos.length }, (_, i) => i).filter((i) => !picked.includes(i));
  return {
    train: photos.subset(rest, `${photos.name} (training)`),
    val: datasets.folder(options.dir, { scale: photos.scale }),
  };
}
