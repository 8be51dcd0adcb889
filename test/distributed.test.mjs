// Data-parallel training on c10d/Gloo with real processes on loopback: two ranks on halves of a batch
// step like one process on the whole batch; a dying rank makes the other fail with E_DIST in bounded
// time; `kds distill --nproc 2` runs end to end; setDistributed rejects bad options with a KDSError.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { KDS, KDSError, info, models } from '../dist/index.js';
import { makeTempDir, removeDir, runFixture } from './helpers/python.mjs';

const require = createRequire(import.meta.url);
const sharp = require('sharp');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const worker = path.join(root, 'test', 'fixtures', 'dist-worker.mjs');
const bin = path.join(root, 'bin', 'kds.js');
const work = makeTempDir('dist');
after(() => removeDir(work));

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Three tiny 48 x 40 PNG photographs (deterministic), written once.
async function tinyPhotos() {
  const photos = path.join(work, 'photos');
  if (fs.existsSync(photos)) return photos;
  fs.mkdirSync(photos, { recursive: true });
  for (let k = 0; k < 3; k++) {
    const w = 48, h = 40, px = Buffer.alloc(w * h * 3);
    for (let i = 0; i < px.length; i++) px[i] = Math.round(128 + 100 * Math.sin(i * 0.37 + k) * Math.cos(i * 0.011));
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path.join(photos, `img${k}.png`));
  }
  return photos;
}

// Runs the worker (world size 1: no process group) or `worldSize` ranks of it; resolves to the parsed
// JSON lines by rank, the exit codes and the wall time.
async function runWorkers(worldSize, args) {
  const port = await freePort();
  const started = Date.now();
  const runs = [];
  for (let rank = 0; rank < worldSize; rank++) {
    const env = { ...process.env, KDS_NUM_THREADS: '1' };
    delete env.RANK;
    delete env.WORLD_SIZE;
    if (worldSize > 1) Object.assign(env, { RANK: String(rank), WORLD_SIZE: String(worldSize), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) });
    runs.push(
      new Promise((resolve) => {
        const child = spawn(process.execPath, [worker, JSON.stringify(args)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '', stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (code) => {
          const line = stdout.trim().split('\n').filter(Boolean).pop();
          resolve({ code, result: line ? JSON.parse(line) : undefined, stderr });
        });
      }),
    );
  }
  const results = await Promise.all(runs);
  return { results, seconds: (Date.now() - started) / 1000 };
}

test('two ranks on halves of a batch end with the weights of one process on the whole batch', async (t) => {
  const steps = 3;
  const single = await runWorkers(1, { out: work, steps });
  assert.equal(single.results[0].code, 0, single.results[0].stderr);
  const pair = await runWorkers(2, { out: work, steps });
  for (const r of pair.results) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.result.worldSize, 2);
  }
  const cmp = await runFixture('compare_students.py', work, {
    reference: 'student-single.pt',
    others: ['student-0.pt', 'student-1.pt', 'student-initial.pt'],
  });
  const rank1VsRank0 = (await runFixture('compare_students.py', work, { reference: 'student-0.pt', others: ['student-1.pt'] }, { result: 'result.json' }))['student-1.pt'];
  // Both ranks hold exactly the same weights: they applied the same averaged gradients to rank 0's weights.
  assert.equal(rank1VsRank0.keysMatch, true);
  assert.equal(rank1VsRank0.bitwiseEqual, true, `rank 1 differs from rank 0 by up to ${rank1VsRank0.maxAbsDiff}`);
  // Equal to the single process up to float32 rounding: the gradient of the mean over 4 images is
  // summed in a different order ((g0 + g1) / 2 over two halves vs one backward over the batch), and Adam
  // divides by sqrt(v) + eps, which amplifies the last-bit differences of small gradients a little.
  const moved = cmp['student-initial.pt'].maxAbsDiff;
  t.diagnostic(`vs one process: rank 0 max rel ${cmp['student-0.pt'].maxRelDiff}, max abs ${cmp['student-0.pt'].maxAbsDiff}; weights moved up to ${moved}`);
  for (const name of ['student-0.pt', 'student-1.pt']) {
    assert.equal(cmp[name].keysMatch, true);
    assert.ok(cmp[name].maxRelDiff < 1e-5, `${name}: max relative difference ${cmp[name].maxRelDiff} (weights moved up to ${moved})`);
  }
  assert.ok(moved > 1e-3, `training must move the weights for the comparison to mean something (moved ${moved})`);
  // Every rank reports its own half's loss; their mean is the whole batch's loss at step 1 (same weights).
  const first = (pair.results[0].result.losses[0] + pair.results[1].result.losses[0]) / 2;
  assert.ok(Math.abs(first - single.results[0].result.losses[0]) < 1e-4 * Math.abs(first), `${first} vs ${single.results[0].result.losses[0]}`);
});

test('a rank that dies makes the other fail with E_DIST within the timeout, not hang', async (t) => {
  const timeoutMs = 5000;
  const { results, seconds } = await runWorkers(2, { out: work, steps: 4, dieAfter: 1, timeoutMs });
  assert.equal(results[1].code, 3);
  assert.equal(results[0].code, 1, results[0].stderr);
  assert.equal(results[0].result.ok, false);
  assert.equal(results[0].result.code, 'E_DIST', results[0].result.message);
  assert.match(results[0].result.message, /rank 0: gradient all-reduce failed/);
  t.diagnostic(`rank 0 failed after ${results[0].result.seconds} s: ${results[0].result.message}`);
  assert.ok(seconds < 60, `took ${seconds} s`);
});

test('a rank that stops calling train makes the other fail with E_DIST after the timeout', async (t) => {
  const timeoutMs = 3000;
  const { results } = await runWorkers(2, { out: work, steps: 3, hangAfter: 1, timeoutMs });
  assert.equal(results[0].code, 1, results[0].stderr);
  assert.equal(results[0].result.code, 'E_DIST', results[0].result.message);
  assert.match(results[0].result.message, /rank 0: gradient all-reduce failed/);
  t.diagnostic(`rank 0 failed after ${results[0].result.seconds} s: ${results[0].result.message.slice(0, 200)}`);
  assert.ok(results[0].result.seconds >= timeoutMs / 1000 - 0.5 && results[0].result.seconds < timeoutMs / 1000 + 20, `${results[0].result.seconds} s`);
});

test('a non-finite loss on one rank skips that step on every rank (E_NAN), and training goes on in lockstep', async () => {
  const args = { out: work, steps: 4, poisonStep: 1, tag: 'poison-' };
  const single = await runWorkers(1, args);
  assert.equal(single.results[0].code, 0, single.results[0].stderr);
  const pair = await runWorkers(2, args);
  for (const r of pair.results) {
    assert.equal(r.code, 0, JSON.stringify(r.result) + r.stderr);
    assert.equal(r.result.stepErrors.length, 1);
    assert.equal(r.result.stepErrors[0].code, 'E_NAN');
    assert.match(r.result.stepErrors[0].message, /the loss is not finite on 1 of 2 ranks.*the step was not applied on any rank/);
    assert.equal(r.result.losses.length, 3);
  }
  assert.match(pair.results[1].result.stepErrors[0].message, /\(here DS /); // the rank that had it says its parts
  await assertSameAsSingle('poison-');
});

test('an error of one rank before the all-reduce (E_SHAPE) skips that step on every rank (E_DIST elsewhere)', async () => {
  const args = { out: work, steps: 4, poisonStep: 2, poison: 'shape', tag: 'shape-' };
  const single = await runWorkers(1, args);
  assert.equal(single.results[0].code, 0, single.results[0].stderr);
  const pair = await runWorkers(2, args);
  for (const r of pair.results) {
    assert.equal(r.code, 0, JSON.stringify(r.result) + r.stderr);
    assert.equal(r.result.losses.length, 3);
  }
  assert.equal(pair.results[1].result.stepErrors[0].code, 'E_SHAPE');
  assert.equal(pair.results[0].result.stepErrors[0].code, 'E_DIST');
  assert.match(pair.results[0].result.stepErrors[0].message, /1 of 2 ranks failed this step with an error of their own/);
  await assertSameAsSingle('shape-');
});

test('ranks that start from different step counts all fail with E_STATE (and stay paired)', async () => {
  const { results } = await runWorkers(2, { out: work, steps: 2, localStepsOnRank1: 1, recordErrors: true, tag: 'mismatch-', timeoutMs: 10000 });
  for (const r of results) {
    assert.equal(r.code, 0, JSON.stringify(r.result) + r.stderr);
    assert.deepEqual(r.result.stepErrors.map((e) => e.code), ['E_STATE', 'E_STATE'], JSON.stringify(r.result.stepErrors));
  }
  assert.match(results[1].result.stepErrors[0].message, /rank 1: its step count \(1\) or optimiser state differs from rank 0's \(step 0\)/);
  assert.match(results[0].result.stepErrors[0].message, /1 rank\(s\) hold another step count or optimiser state than rank 0/);
});

// The ranks' students are bitwise equal, and equal to the single process's within float32 rounding.
async function assertSameAsSingle(tag) {
  const [a, b, single] = [`${tag}student-0.pt`, `${tag}student-1.pt`, `${tag}student-single.pt`];
  const cmp = await runFixture('compare_students.py', work, { reference: single, others: [a, b] });
  const pairCmp = await runFixture('compare_students.py', work, { reference: a, others: [b] });
  assert.equal(pairCmp[b].bitwiseEqual, true);
  for (const name of [a, b]) assert.ok(cmp[name].maxRelDiff < 1e-5, `${name}: ${cmp[name].maxRelDiff}`);
}

test('kds distill --nproc 2 runs two ranks end to end and writes one checkpoint and report', async () => {
  const photos = await tinyPhotos();
  const teacherFile = path.join(work, 'teacher.pt');
  const teacher = models.edsr({ scale: 2, nResblocks: 1, nFeats: 8 });
  await teacher.saveStateDict(teacherFile);
  teacher.dispose();
  const out = path.join(work, 'run');
  const env = { ...process.env };
  delete env.RANK;
  delete env.WORLD_SIZE;
  const args = ['distill', '--nproc', '2', '--teacher', teacherFile, '--teacher-arch', 'edsr-r1f8', '--student', 'edsr-r1f4', '--train', photos, '--val', photos,
    '--steps', '3', '--patch-size', '8', '--batch-size', '2', '--progress', 'lines', '--out', out];
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env, timeout: 180000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /2 process\(es\) on node 0\/1, world size 2/);
  assert.match(r.stdout + r.stderr, /\[rank 0\] /);
  assert.match(r.stdout, /2 data-parallel ranks/);
  const files = fs.readdirSync(out);
  for (const f of ['checkpoint.pt', 'log.jsonl', 'student.pt', 'run.json', 'report.md']) assert.ok(files.includes(f), `${f} in ${files}`);
  assert.equal(files.filter((f) => f.includes('.tmp')).length, 0);
  const steps = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"type":"step"'));
  assert.equal(steps.length, 3, 'one log line per step, from rank 0 only');
});

test('kds train --nproc 2 --resume continues exactly where an uninterrupted distributed run would be', async () => {
  const env = { ...process.env, KDS_NUM_THREADS: '1' };
  delete env.RANK;
  delete env.WORLD_SIZE;
  const photos = await tinyPhotos();
  const kds = (...args) => spawnSync(process.execPath, [bin, 'train', '--nproc', '2', '--student', 'edsr-r1f4', '--train', photos, '--patch-size', '8',
    '--batch-size', '2', '--schedule', 'constant', '--lr', '1e-3', '--checkpoint-every', '1', '--no-report', '--progress', 'lines', ...args],
    { encoding: 'utf8', env, timeout: 120000 });
  const whole = path.join(work, 'resume-whole'), parts = path.join(work, 'resume-parts');
  for (const r of [kds('--steps', '4', '--out', whole), kds('--steps', '2', '--out', parts)]) assert.equal(r.status, 0, r.stderr);
  const again = kds('--steps', '4', '--out', parts, '--resume');
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /\[rank 0\] resumed from .* at step 2\/4/);
  const steps = fs.readFileSync(path.join(parts, 'log.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"type":"step"'));
  assert.deepEqual(steps.map((l) => JSON.parse(l).step), [1, 2, 3, 4]);
  // Rank 1 restored its own sampler position (seed + 1) from rank 0's state: the same batches, the same weights.
  fs.copyFileSync(path.join(whole, 'student.pt'), path.join(work, 'resume-whole.pt'));
  fs.copyFileSync(path.join(parts, 'student.pt'), path.join(work, 'resume-parts.pt'));
  // One process with the same flags draws rank 0's patches only; had rank 1 drawn the same patches as
  // rank 0, the averaged gradient (g + g) / 2 would be exactly g and the weights would equal this run's.
  const alone = path.join(work, 'resume-alone');
  const single = spawnSync(process.execPath, [bin, 'train', '--student', 'edsr-r1f4', '--train', photos, '--patch-size', '8', '--batch-size', '2',
    '--schedule', 'constant', '--lr', '1e-3', '--no-report', '--steps', '4', '--out', alone], { encoding: 'utf8', env, timeout: 120000 });
  assert.equal(single.status, 0, single.stderr);
  fs.copyFileSync(path.join(alone, 'student.pt'), path.join(work, 'resume-alone.pt'));
  const cmp = await runFixture('compare_students.py', work, { reference: 'resume-whole.pt', others: ['resume-parts.pt', 'resume-alone.pt'] });
  assert.equal(cmp['resume-parts.pt'].bitwiseEqual, true, `differs by up to ${cmp['resume-parts.pt'].maxAbsDiff}`);
  assert.ok(cmp['resume-alone.pt'].maxAbsDiff > 1e-5, `2 ranks vs 1 process: ${cmp['resume-alone.pt'].maxAbsDiff}`);
});

test('kds distill --nproc: a failing rank stops the run with its exit code; bad launcher flags are usage errors', () => {
  const env = { ...process.env };
  delete env.RANK;
  delete env.WORLD_SIZE;
  const kds = (...args) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env, timeout: 120000 });
  const missing = path.join(work, 'no-such-folder');
  const r = kds('train', '--nproc', '2', '--student', 'edsr-r1f4', '--train', missing, '--steps', '2', '--out', path.join(work, 'failed'));
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /\[rank [01]\] kds train: .*no-such-folder/);
  assert.match(r.stderr, /rank [01] exited with code \d+; stopping the other ranks/);
  const usage = [
    [['--nproc', '0'], /--nproc must be at least 1, got 0/],
    [['--nproc', '2', '--nnodes', '2'], /--nnodes > 1 needs --master-addr/],
    [['--nproc', '2', '--nnodes', '2', '--node-rank', '2', '--master-addr', '10.0.0.1'], /--node-rank must be in 0..1, got 2/],
    [['--nproc', '2', '--master-port', '70000'], /--master-port must be in 1..65535, got 70000/],
    [['--nproc', 'two'], /--nproc expects an integer, got 'two'/],
  ];
  for (const [flags, message] of usage) {
    const u = kds('train', ...flags, '--student', 'edsr-r1f4', '--train', missing);
    assert.equal(u.status, 2, u.stderr);
    assert.match(u.stderr, message);
  }
});

test('setDistributed rejects bad options with a KDSError naming the problem', async () => {
  const kds = new KDS();
  const saved = { RANK: process.env.RANK, WORLD_SIZE: process.env.WORLD_SIZE };
  delete process.env.RANK;
  delete process.env.WORLD_SIZE;
  try {
    // NCCL needs a CUDA build with nccl.h, and then a session on a GPU (this one is on the CPU).
    assert.equal(typeof info().nccl, 'boolean');
    const noNccl = info().nccl ? /backend 'nccl' runs on the GPU, but this session is on cpu/ : /nccl' needs a CUDA build/;
    const cases = [
      [{}, 'E_ARG', /worldSize is required: pass \{ worldSize \} or set WORLD_SIZE/],
      [{ worldSize: 2 }, 'E_ARG', /rank is required/],
      [{ worldSize: 2, rank: 2 }, 'E_ARG', /rank must be an integer between 0 and 1, got number 2/],
      [{ worldSize: 0, rank: 0 }, 'E_ARG', /worldSize must be an integer between 1 and /],
      [{ worldSize: 2, rank: 0.5 }, 'E_ARG', /rank must be an integer/],
      [{ worldSize: 2, rank: 0, masterPort: 70000 }, 'E_ARG', /masterPort must be an integer between 1 and 65535/],
      [{ worldSize: 2, rank: 0, masterAddr: '' }, 'E_ARG', /masterAddr must be a host name/],
      [{ worldSize: 2, rank: 0, backend: 'mpi' }, 'E_ARG', /backend must be 'gloo' or 'nccl'/],
      [{ worldSize: 2, rank: 0, timeoutMs: 0 }, 'E_ARG', /timeoutMs must be an integer/],
      [{ worldSize: 2, rank: 0, localRank: -1 }, 'E_ARG', /localRank must be an integer between 0 and 1/],
      [{ worldSize: 2, rank: 0, port: 1 }, 'E_ARG', /distributed options: unknown option 'port'/],
      [{ worldSize: 1, rank: 0, backend: 'nccl' }, 'E_DEVICE', noNccl],
      ['x', 'E_ARG', /distributed options must be an object/],
    ];
    for (const [options, code, message] of cases) {
      await assert.rejects(kds.setDistributed(options), (err) => {
        assert.ok(err instanceof KDSError, String(err));
        assert.equal(err.code, code, `${JSON.stringify(options)}: ${err.message}`);
        assert.match(err.message, message);
        return true;
      });
    }
    process.env.WORLD_SIZE = 'two';
    await assert.rejects(kds.setDistributed(), /environment variable WORLD_SIZE must be a non-negative integer, got the string 'two'/);
    // A group of one needs no peers: it joins at once, and a second join is out of order.
    await kds.setDistributed({ worldSize: 1, rank: 0, masterPort: await freePort() });
    assert.equal(kds.rank, 0);
    assert.equal(kds.worldSize, 1);
    assert.equal(kds.localRank, 0);
    await assert.rejects(kds.setDistributed({ worldSize: 1, rank: 0 }), (err) => err.code === 'E_STATE' && /already joined/.test(err.message));
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    await kds.dispose();
  }
});
