// Speed of the image pipeline on the fetched photographs (scripts/fetch-photos.js): first loads (decode +
// LR synthesis), batches from the cache, the sampler keeping up with a consumer, metrics and upscaling.
// Not run by npm test. Usage: node bench/data-pipeline.mjs [scale=2]   (set KDS_NUM_THREADS to pin threads)
import { createRequire } from 'node:module';
import path from 'node:path';
import * as kds from '../dist/index.js';

const require = createRequire(import.meta.url);
const { fetchPhotos } = require('../scripts/fetch-photos.js');
const photos = fetchPhotos();
const scale = Number(process.argv[2] ?? 2);
// Wall time, and CPU time of the whole process (all threads: LibTorch, libuv, libvips), which is less
// sensitive to other load on the machine.
let cpu0 = process.cpuUsage();
const ms = (t0) => {
  const c = process.cpuUsage(cpu0);
  cpu0 = process.cpuUsage();
  return `${(performance.now() - t0).toFixed(0)} ms (CPU ${((c.user + c.system) / 1000).toFixed(0)} ms)`;
};
const start = () => {
  cpu0 = process.cpuUsage();
  return performance.now();
};
console.log(`kds on LibTorch ${kds.info().torchVersion}, ${kds.getNumThreads()} LibTorch threads, scale x${scale}, load average ${(await import('node:os')).loadavg()[0].toFixed(1)}`);

const train = kds.datasets.folder(path.join(photos.dir, 'train'), { scale });
let t0 = start();
let pixels = 0;
for (let i = 0; i < train.length; i++) {
  const { hr } = await train.get(i);
  pixels += hr.shape[2] * hr.shape[3];
}
console.log(`first load of ${train.length} photographs (${(pixels / 1e6).toFixed(1)} MP HR: decode, crop, bicubic LR, one at a time): ${ms(t0)}`);

for (const prefetch of [0, 2]) {
  const sampler = kds.createSampler(train, { patchSize: 48, batchSize: 16, seed: 1, prefetch });
  await sampler.next(); // warm
  // A consumer that works 50 ms per batch (a training step): how long does it wait for the next one?
  let waited = 0;
  const n = 20;
  t0 = start();
  for (let i = 0; i < n; i++) {
    const w0 = performance.now();
    await sampler.next();
    waited += performance.now() - w0;
    await new Promise((r) => setTimeout(r, 50));
  }
  sampler.close();
  console.log(`sampler (cached, 16 x 48 px, prefetch ${prefetch}): ${n} batches in ${ms(t0)}, consumer waited ${(waited / n).toFixed(1)} ms per batch`);
}

{
  // Without a cache every patch decodes its photograph and makes its LR again.
  const uncached = kds.datasets.folder(path.join(photos.dir, 'train'), { scale, cacheBytes: 0 });
  const sampler = kds.createSampler(uncached, { patchSize: 48, batchSize: 16, seed: 1, prefetch: 0 });
  t0 = start();
  for (let i = 0; i < 3; i++) await sampler.next();
  sampler.close();
  console.log(`sampler (no cache, 16 x 48 px): 3 batches in ${ms(t0)}`);
}

const evalSet = kds.datasets.folder(path.join(photos.dir, 'eval'), { scale });
const big = await train.get(train.names.indexOf('mate-Wood'));
const sr = await kds.upscaleBicubic(big.lr, scale);
t0 = start();
await kds.psnr(sr, big.hr, { scale });
console.log(`psnr on ${big.hr.shape[3]} x ${big.hr.shape[2]}: ${ms(t0)}`);
t0 = start();
await kds.ssim(sr, big.hr, { scale });
console.log(`ssim on ${big.hr.shape[3]} x ${big.hr.shape[2]}: ${ms(t0)}`);

const model = kds.models.edsr({ scale });
const { lr } = await evalSet.get(0);
for (const tile of [0, 128]) {
  t0 = start();
  await kds.upscale(model, lr, { tile, overlap: 32 });
  console.log(`upscale EDSR-baseline ${lr.shape[3]} x ${lr.shape[2]} -> x${scale}, tile ${tile || 'none'}: ${ms(t0)}`);
}
t0 = start();
const e = await kds.evaluate(model, evalSet);
console.log(`evaluate (untrained EDSR-baseline, ${evalSet.length} images, with bicubic): ${ms(t0)}`);
console.log(kds.formatEvaluation(e));
