// Memory soak, run with --expose-gc: STEPS tiny training steps, each with a forward whose output tensors are
// dropped without dispose() (the finalizers must free them) and a throwaway tensor, half of them disposed.
// Prints one JSON line: { rss: [MB after each of 20 equal slices], external: [MB kds reported to V8, same points] }.
// usage: node --expose-gc soak.mjs STEPS
import { KDS, Tensor, models, manualSeed, setNumThreads } from '../../dist/index.js';
import { native } from '../../dist/native.js';

const steps = Number(process.argv[2] ?? 2000);
setNumThreads(1);
manualSeed(1);
const teacher = models.edsr({ scale: 2, nResblocks: 2, nFeats: 8 });
const student = models.edsr({ scale: 2, nResblocks: 1, nFeats: 6 });
const kds = new KDS().setTeacher(teacher).setStudent(student);
const lr = { data: Float32Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => (i * 13) % 256), shape: [2, 3, 8, 8] };
const hr = { data: Float32Array.from({ length: 2 * 3 * 16 * 16 }, (_, i) => (i * 7) % 256), shape: [2, 3, 16, 16] };
// Forwards run on a bigger batch: its outputs and features are about 300 KB per step.
const big = { data: Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => (i * 11) % 256), shape: [2, 3, 32, 32] };
const mb = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;

const rss = [], external = [];
for (let i = 1; i <= steps; i++) {
  await kds.train(lr, hr);
  const { output, features } = await student.forward(big);
  if (i % 2 === 0) {
    output.dispose();
    for (const f of features) f.dispose();
  }
  const scratch = Tensor.from({ data: new Float32Array(3 * 32 * 32), shape: [1, 3, 32, 32] });
  if (i % 2 === 1) scratch.dispose();
  if (i % (steps / 20) === 0) {
    globalThis.gc();
    await new Promise((resolve) => setImmediate(resolve)); // finalizers run after the GC, on the next turn
    globalThis.gc();
    const usage = process.memoryUsage();
    rss.push(mb(usage.rss));
    external.push(mb(native().NativeTensor.externalMemory())); // what kds reported to V8
  }
}
await kds.dispose();
console.log(JSON.stringify({ rss, external }));
