// Runs the fuzzing child (fuzz-child.mjs) and watches it: a signal exit is a crash, silence past the per-attempt
// timeout is a hang. After either, the input is kept and the run goes on from the next attempt in a fresh
// child. Used by test/fuzz.test.mjs (a few hundred attempts) and scripts/fuzz.js (as many as asked).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { KDS, models, manualSeed, writeImage } from '../../dist/index.js';
import { fixturePath, runPythonSync } from '../../test/helpers/python.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The architecture of every seed state dict and checkpoint: tiny, so attempts are quick. */
export const FUZZ_MODEL = { scale: 2, nResblocks: 1, nFeats: 4 };

/** Writes valid files of every kind into `dir`; returns the seed paths of each target. */
export async function makeSeeds(dir) {
  manualSeed(11);
  const model = models.edsr(FUZZ_MODEL);
  const kdsStateDict = path.join(dir, 'kds_state_dict.pt');
  await model.saveStateDict(kdsStateDict);
  const kds = new KDS().setStudent(model).setLoss({ SA: false, weights: { TS: 0 } });
  const lr = { data: new Float32Array(3 * 6 * 6).fill(100), shape: [1, 3, 6, 6] };
  const hr = { data: new Float32Array(3 * 12 * 12).fill(120), shape: [1, 3, 12, 12] };
  await kds.train(lr, hr); // so that the checkpoint holds Adam moments too
  const checkpoint = path.join(dir, 'checkpoint.pt');
  await kds.saveCheckpoint(checkpoint, { note: 'fuzz seed' });
  await kds.dispose();
  model.dispose();

  runPythonSync([fixturePath('fuzz_seeds.py'), dir, kdsStateDict, checkpoint]);

  const png = path.join(dir, 'image.png');
  const pixels = Float32Array.from({ length: 3 * 9 * 7 }, (_, i) => (i * 37) % 256);
  await writeImage(png, { data: pixels, shape: [1, 3, 9, 7] });
  const jpeg = path.join(dir, 'image.jpg');
  await sharp(png).jpeg({ quality: 80 }).toFile(jpeg);

  return {
    torchscript: [path.join(dir, 'script.pt')],
    statedict: [kdsStateDict, path.join(dir, 'legacy.pt'), path.join(dir, 'python_zip.pt')],
    checkpoint: [checkpoint],
    image: [png, jpeg],
  };
}

/**
 * Fuzzes one target for `iterations` attempts. Returns the outcome counts ({ ok: n, E_FILE: n, ... }) and
 * the findings: crashes (signal), hangs (timeout), unexpected exits, each with the input kept in workDir.
 */
export async function fuzz({ target, seeds, runSeed = 1, iterations, workDir, attemptTimeoutMs = 20000, startTimeoutMs = 120000, log = () => {} }) {
  const outcomes = {};
  const findings = [];
  let next = 0;
  while (next < iterations) {
    const result = await runChild({ target, seeds, runSeed, start: next, count: iterations - next, workDir, attemptTimeoutMs, startTimeoutMs, outcomes });
    if (result.finding) {
      findings.push(result.finding);
      log(`${target}: ${result.finding.kind} at attempt ${result.finding.index} (${result.finding.mutation}), input kept as ${result.finding.file}`);
    }
    next = result.next;
  }
  return { outcomes, findings };
}

function runChild({ target, seeds, runSeed, start, count, workDir, attemptTimeoutMs, startTimeoutMs, outcomes }) {
  const input = path.join(workDir, `input-${target}.bin`);
  const job = { target, seeds, input, runSeed, start, count, model: FUZZ_MODEL };
  const child = spawn(process.execPath, [path.join(here, 'fuzz-child.mjs'), JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let current = null; // { index, mutation } of the attempt in progress
  let next = start;
  let stderr = '';
  let timedOut = false;
  let timer;
  const arm = (ms) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, ms);
  };
  arm(startTimeoutMs);
  let pending = '';
  child.stdout.on('data', (chunk) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const [kind, index, detail] = pending.slice(0, nl).split(' ');
      pending = pending.slice(nl + 1);
      if (kind === 'begin') {
        current = { index: Number(index), mutation: detail };
        arm(attemptTimeoutMs);
      } else if (kind === 'end') {
        outcomes[detail] = (outcomes[detail] ?? 0) + 1;
        next = Number(index) + 1;
        current = null;
      }
    }
  });
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (next >= start + count && code === 0) return resolve({ next });
      const kind = timedOut ? (current ? 'hang' : 'start-timeout') : signal ? `signal ${signal}` : `exit code ${code}`;
      const finding = { kind, index: current?.index ?? next, mutation: current?.mutation ?? '', stderr: stderr.trim() };
      if (current) {
        finding.file = path.join(workDir, `finding-${target}-${current.index}.bin`);
        fs.copyFileSync(input, finding.file);
        outcomes[kind] = (outcomes[kind] ?? 0) + 1;
      }
      // A child that never started an attempt cannot make progress: stop rather than loop.
      resolve({ next: current ? current.index + 1 : start + count, finding });
    });
  });
}
