// Fuzzing child process: feeds mutated files to one kds loader and reports each attempt on stdout, so the
// parent (fuzz-driver.mjs) can tell a crash (a signal exit) or a hang (no report in time) from an error.
//
// usage: node fuzz-child.mjs JOB_JSON   job: { target, seeds: [paths], input, runSeed, start, count, model }
// stdout: "begin I MUTATION" before attempt I, "end I OUTCOME" after it (OUTCOME: ok or the error's code).
import fs from 'node:fs';
import { mutate } from './mutate.mjs';
import { KDS, loadTorchScript, models, readImage, manualSeed, setNumThreads } from '../../dist/index.js';

const job = JSON.parse(process.argv[2]);
const seeds = job.seeds.map((p) => fs.readFileSync(p));
setNumThreads(1);

// The architecture of the seed files (fuzz-driver.mjs makeSeeds), so that unharmed files load.
manualSeed(3);
const model = models.edsr(job.model);
const kds = new KDS().setStudent(models.edsr(job.model)).setLoss({ SA: false, weights: { TS: 0 } });

const TARGETS = {
  async torchscript(file) {
    (await loadTorchScript(file)).dispose();
  },
  async statedict(file) {
    await model.loadStateDict(file);
  },
  async checkpoint(file) {
    await kds.loadCheckpoint(file);
  },
  async image(file) {
    (await readImage(file)).dispose();
  },
  // Proves that the parent notices a crash: attempt 1 kills this process as a segfault would.
  async 'crash-self-test'(file, index) {
    if (index === 1) process.kill(process.pid, 'SIGSEGV');
  },
};

const load = TARGETS[job.target];
if (!load) throw new Error(`unknown fuzz target ${job.target}`);
for (let i = job.start; i < job.start + job.count; i++) {
  const { name, bytes } = mutate(job.runSeed, i, seeds);
  fs.writeFileSync(job.input, bytes);
  process.stdout.write(`begin ${i} ${name}\n`);
  let outcome = 'ok';
  try {
    await load(job.input, i);
  } catch (err) {
    outcome = err?.name === 'KDSError' ? err.code : `not-a-KDSError:${String(err?.message ?? err).split('\n')[0]}`;
  }
  process.stdout.write(`end ${i} ${outcome}\n`);
}
