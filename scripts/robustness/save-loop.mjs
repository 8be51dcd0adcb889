// Saves the same four files over and over until it is killed: model.save, kds.saveStudentModel,
// kds.saveCheckpoint and writeImage, each into DIR, with a training step between rounds so that every
// round writes different bytes. Prints "begin NAME N" before each save and "round N" after each complete
// round, so that the parent can kill it in the middle of a given save. usage: node save-loop.mjs DIR
import path from 'node:path';
import { KDS, models, manualSeed, setNumThreads, writeImage } from '../../dist/index.js';

const dir = process.argv[2];
setNumThreads(1);
manualSeed(1);
// Big enough (about 0.6 M parameters, 2.4 MB per file) that a kill often lands inside a write.
const model = models.edsr({ scale: 2, nResblocks: 8, nFeats: 48 });
const kds = new KDS().setStudent(model).setLoss({ SA: false, weights: { TS: 0 } });
const lr = { data: new Float32Array(3 * 4 * 4).fill(10), shape: [1, 3, 4, 4] };
const hr = { data: new Float32Array(3 * 8 * 8).fill(200), shape: [1, 3, 8, 8] };
const side = 160;
const begin = (name, round) => process.stdout.write(`begin ${name} ${round}\n`);
for (let round = 0; ; round++) {
  await kds.train(lr, hr);
  begin('model.pt', round);
  await model.save(path.join(dir, 'model.pt'));
  begin('student.pt', round);
  await kds.saveStudentModel(path.join(dir, 'student.pt'));
  begin('checkpoint.pt', round);
  await kds.saveCheckpoint(path.join(dir, 'checkpoint.pt'), { round });
  const pixels = Float32Array.from({ length: 3 * side * side }, (_, i) => (i * 7 + round * 13) % 256);
  begin('image.png', round);
  await writeImage(path.join(dir, 'image.png'), { data: pixels, shape: [1, 3, side, side] });
  process.stdout.write(`round ${round}\n`);
}
