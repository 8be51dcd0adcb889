'use strict';
// Longer fuzzing runs than the test suite's: node scripts/fuzz.js [--iterations N] [--seed S]
//   [--targets statedict,checkpoint,torchscript,image] [--timeout-ms T] [--keep DIR]
// Feeds mutated files to the loaders in a child process; prints outcome counts per target and every crash
// or hang with the kept input. Exits 1 if any was found. Needs the built addon (npm run build).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

async function main() {
  const iterations = Number(option('iterations', '2000'));
  const runSeed = Number(option('seed', String(Date.now() % 100000)));
  const targets = option('targets', 'statedict,checkpoint,torchscript,image').split(',');
  const attemptTimeoutMs = Number(option('timeout-ms', '20000'));
  if (!Number.isInteger(iterations) || iterations < 1) throw new Error('--iterations must be a positive integer');
  const dir = option('keep', '') || fs.mkdtempSync(path.join(os.tmpdir(), 'kds-fuzz-'));
  fs.mkdirSync(dir, { recursive: true });
  const { makeSeeds, fuzz } = await import('./robustness/fuzz-driver.mjs');
  const seeds = await makeSeeds(dir);
  console.log(`kds fuzz: seed ${runSeed}, ${iterations} attempts per target, files in ${dir}`);
  let found = 0;
  for (const target of targets) {
    if (!seeds[target]) throw new Error(`unknown target ${target}: expected ${Object.keys(seeds).join(', ')}`);
    const start = Date.now();
    const { outcomes, findings } = await fuzz({ target, seeds: seeds[target], runSeed, iterations, workDir: dir, attemptTimeoutMs, log: console.log });
    console.log(`${target}: ${JSON.stringify(outcomes)} in ${((Date.now() - start) / 1000).toFixed(1)} s`);
    found += findings.length;
  }
  if (found > 0) {
    console.log(`${found} crash(es)/hang(s); rerun one attempt with the same --seed to reproduce`);
    process.exit(1);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
