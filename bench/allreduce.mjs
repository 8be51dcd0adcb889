#!/usr/bin/env node
// The cost of data parallelism per step: the gradient all-reduce (Gloo on loopback) for a student of a
// given size, measured as the `backward` phase of kds.train (which includes the all-reduce) with N ranks
// against one process, on an input so small that the backward itself is short. No teacher (TS and SA off).
//
//   node bench/allreduce.mjs [--ranks 2] [--arch 16,64] [--steps 20]
//
// Every rank runs with one LibTorch thread. Prints the median backward milliseconds of steps 3.. of each
// rank, and of a single process, as one JSON line.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { KDS, models, manualSeed, setNumThreads } from '../dist/index.js';

const { values } = parseArgs({ options: { ranks: { type: 'string', default: '2' }, arch: { type: 'string', default: '16,64' }, steps: { type: 'string', default: '20' }, child: { type: 'boolean' } } });
const [nResblocks, nFeats] = values.arch.split(',').map(Number);
const steps = Number(values.steps);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure() {
  setNumThreads(1);
  manualSeed(1);
  const student = models.edsr({ scale: 2, nResblocks, nFeats });
  const kds = new KDS().setStudent(student).setLoss({ SA: false, weights: { TS: 0, SA: 0, DS: 1 } });
  if (process.env.WORLD_SIZE) await kds.setDistributed();
  const lr = { data: new Float32Array(3 * 8 * 8).fill(100), shape: [1, 3, 8, 8] };
  const hr = { data: new Float32Array(3 * 16 * 16).fill(90), shape: [1, 3, 16, 16] };
  const backward = [];
  for (let i = 0; i < steps; i++) backward.push((await kds.train(lr, hr)).timings.backward);
  return { rank: kds.rank, parameters: student.parameterCount, backwardMs: median(backward.slice(2)) };
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function runChild(env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', '--arch', values.arch, '--steps', values.steps], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited with ${code}`))));
  });
}

if (values.child) {
  console.log(JSON.stringify(await measure()));
} else {
  const ranks = Number(values.ranks);
  const single = await runChild({ WORLD_SIZE: '' });
  const port = String(await freePort());
  const group = await Promise.all(
    Array.from({ length: ranks }, (_, r) => runChild({ RANK: String(r), WORLD_SIZE: String(ranks), MASTER_ADDR: '127.0.0.1', MASTER_PORT: port })),
  );
  console.log(JSON.stringify({ arch: `edsr-r${nResblocks}f${nFeats}`, parameters: single.parameters, gradientMB: (single.parameters * 4) / 2 ** 20, singleBackwardMs: single.backwardMs, ranks, rankBackwardMs: group.map((g) => g.backwardMs) }));
}
