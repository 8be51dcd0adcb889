// CUDA checks for the device script (bench/gpu-check.sh): the same distillation on the GPU as on the CPU.
// Prints one line per check and exits non-zero if any fails. Needs a CUDA build of the addon and a GPU.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KDS, models, manualSeed, info, loadTorchScript } from '../dist/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-gpu-'));
let failures = 0;

async function check(name, fn) {
  const started = Date.now();
  try {
    const detail = await fn();
    console.log(`ok   ${name}${detail ? `: ${detail}` : ''} (${Date.now() - started} ms)`);
  } catch (err) {
    failures++;
    console.log(`FAIL ${name}: ${err.stack || err}`);
  }
}

function batches(count, n, h, w, scale, seed) {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 255;
  return Array.from({ length: count }, () => ({
    lr: { data: Float32Array.from({ length: n * 3 * h * w }, rand), shape: [n, 3, h, w] },
    hr: { data: Float32Array.from({ length: n * 3 * h * w * scale * scale }, rand), shape: [n, 3, h * scale, w * scale] },
  }));
}

const rel = (a, b) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

// Teacher and student with identical initial weights on whichever device; returns the per-step losses.
async function run(device, sa, data, { teacherFile, studentFile }) {
  const teacher = models.edsr({ scale: 2, nResblocks: 8, nFeats: 32 });
  await teacher.loadStateDict(teacherFile);
  const student = models.edsr({ scale: 2, nResblocks: 4, nFeats: 16 });
  await student.loadStateDict(studentFile);
  const kds = new KDS().setDevice(device).setTeacher(teacher).setStudent(student).setLoss({ SA: sa });
  const losses = [];
  for (const { lr, hr } of data) losses.push(await kds.train(lr, hr));
  const out = path.join(dir, `student-${device.replace(':', '')}-${typeof sa === 'object' ? sa.impl : sa}.pt`);
  await kds.saveStudentModel(out);
  await kds.dispose();
  return { losses, out, student };
}

const i = info();
await check('CUDA is visible', () => {
  assert.equal(i.cudaAvailable, true);
  return `${i.cudaDeviceCount} device(s), torch ${i.torchVersion}`;
});
await check("setDevice('cuda:99') is a clear E_DEVICE", () => {
  assert.throws(() => new KDS().setDevice('cuda:99'), (e) => e.code === 'E_DEVICE' && /cuda:99/.test(e.message));
});

manualSeed(7);
const teacherFile = path.join(dir, 'teacher.pt');
const studentFile = path.join(dir, 'student0.pt');
await models.edsr({ scale: 2, nResblocks: 8, nFeats: 32 }).saveStateDict(teacherFile);
await models.edsr({ scale: 2, nResblocks: 4, nFeats: 16 }).saveStateDict(studentFile);
const data = batches(3, 4, 48, 48, 2, 1);
const files = { teacherFile, studentFile };

let cpu, fused, plain;
await check('CPU reference run (3 steps, fused SA)', async () => {
  cpu = await run('cpu', { impl: 'fused' }, data, files);
  return cpu.losses.map((l) => l.total.toFixed(4)).join(', ');
});
await check('CUDA run, fused SA', async () => {
  fused = await run('cuda', { impl: 'fused' }, data, files);
  return fused.losses.map((l) => l.total.toFixed(4)).join(', ');
});
await check('CUDA run, plain SA', async () => {
  plain = await run('cuda', { impl: 'plain' }, data, files);
  return plain.losses.map((l) => l.total.toFixed(4)).join(', ');
});
await check('CUDA fused SA equals CUDA plain SA (first step, same features: rel < 1e-4)', () => {
  const r = rel(fused.losses[0].SA, plain.losses[0].SA);
  assert.ok(r < 1e-4, `rel ${r}`);
  return `SA ${fused.losses[0].SA} vs ${plain.losses[0].SA}, rel ${r.toExponential(2)}`;
});
await check('CUDA losses follow the CPU run (3 steps; rel < 1e-2, TF32 convolutions on the GPU)', () => {
  const worst = Math.max(...cpu.losses.flatMap((c, k) => ['total', 'DS', 'TS', 'SA'].map((p) => rel(fused.losses[k][p], c[p]))));
  assert.ok(worst < 1e-2, `worst rel ${worst}`);
  return `worst rel ${worst.toExponential(2)}`;
});
await check('a student trained on CUDA loads in Python (torch.load, CPU)', () => {
  const script = 'import sys, torch\nsd = torch.load(sys.argv[1], map_location="cpu")\nprint(len(sd), sum(v.numel() for v in sd.values()))';
  return execFileSync('python3', ['-c', script, fused.out], { encoding: 'utf8' }).trim();
});
await check('a TorchScript teacher from Python trains a student on CUDA', async () => {
  const file = path.join(dir, 'ts-teacher.pt');
  const script = `
import sys, torch
from typing import List, Tuple
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.head = torch.nn.Conv2d(3, 24, 3, padding=1)
        self.body = torch.nn.Conv2d(24, 24, 3, padding=1)
        self.tail = torch.nn.Sequential(torch.nn.Conv2d(24, 12, 3, padding=1), torch.nn.PixelShuffle(2))
    def forward(self, x) -> Tuple[List[torch.Tensor], torch.Tensor]:
        h = self.head(x)
        b = torch.relu(self.body(h))
        return [h, b, b, b], self.tail(b)
torch.manual_seed(0)
torch.jit.save(torch.jit.script(Net()), sys.argv[1])
`;
  execFileSync('python3', ['-c', script, file]);
  const teacher = await loadTorchScript(file);
  const student = models.edsr({ scale: 2, nResblocks: 3, nFeats: 8 });
  const kds = new KDS().setDevice('cuda').setTeacher(teacher).setStudent(student);
  const r = await kds.train(data[0].lr, data[0].hr);
  assert.ok(Number.isFinite(r.total));
  assert.match(student.device, /^cuda/);
  return `total ${r.total.toFixed(4)} on ${student.device}`;
});

console.log(failures ? `${failures} check(s) failed` : 'all CUDA checks passed');
process.exit(failures ? 1 : 0);
