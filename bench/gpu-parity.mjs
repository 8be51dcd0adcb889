// CUDA checks for the device script (bench/gpu-check.sh): the same distillation on the GPU as on the CPU.
// Prints one line per check and exits non-zero if any fails. Needs a CUDA build of the addon and a GPU.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KDS, models, manualSeed, info, loadTorchScript, setCudnnBenchmark } from '../dist/index.js';

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
// `configure(kds)` sets precision, memory format, ... before the first step; `tag` names the saved student.
async function run(device, sa, data, { teacherFile, studentFile }, configure = () => {}, tag = '') {
  const teacher = models.edsr({ scale: 2, nResblocks: 8, nFeats: 32 });
  await teacher.loadStateDict(teacherFile);
  const student = models.edsr({ scale: 2, nResblocks: 4, nFeats: 16 });
  await student.loadStateDict(studentFile);
  const kds = new KDS().setDevice(device).setTeacher(teacher).setStudent(student).setLoss({ SA: sa });
  configure(kds);
  const losses = [];
  for (const { lr, hr } of data) losses.push(await kds.train(lr, hr));
  const out = path.join(dir, `student-${device.replace(':', '')}-${typeof sa === 'object' ? sa.impl : sa}${tag}.pt`);
  await kds.saveStudentModel(out);
  const result = { losses, out, student, kds };
  if (!tag.includes('keep')) await kds.dispose();
  return result;
}

const i = info();
await check('CUDA is visible', () => {
  assert.equal(i.cudaAvailable, true);
  return `${i.cudaDeviceCount} device(s), torch ${i.torchVersion}`;
});
await check('info() names every GPU', () => {
  assert.equal(i.cudaDevices.length, i.cudaDeviceCount);
  assert.ok(i.cudaDevices.every((name) => /sm_\d+/.test(name)), i.cudaDevices.join('; '));
  return i.cudaDevices.join('; ');
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
const worstRel = (a, b, parts = ['total', 'DS', 'TS', 'SA']) =>
  Math.max(...b.losses.flatMap((ref, k) => parts.map((p) => rel(a.losses[k][p], ref[p]))));

let bf16, bf16Plain;
await check('CUDA bf16 autocast (fused SA): losses follow fp32 (3 steps; rel < 2e-2)', async () => {
  bf16 = await run('cuda', { impl: 'fused' }, data, files, (kds) => kds.setPrecision('bf16'), '-bf16');
  const worst = worstRel(bf16, fused);
  assert.ok(worst > 0, 'bf16 gave exactly the fp32 losses: autocast did not run');
  assert.ok(worst < 2e-2, `worst rel ${worst}`);
  return `${bf16.losses.map((l) => l.total.toFixed(4)).join(', ')}; worst rel to fp32 ${worst.toExponential(2)}`;
});
await check('CUDA bf16: fused SA equals plain SA (first step, same bf16 features, float32 SA math: rel < 1e-4)', async () => {
  bf16Plain = await run('cuda', { impl: 'plain' }, data.slice(0, 1), files, (kds) => kds.setPrecision('bf16'), '-bf16');
  const r = rel(bf16.losses[0].SA, bf16Plain.losses[0].SA);
  assert.ok(r < 1e-4, `rel ${r}`);
  return `SA ${bf16.losses[0].SA} vs ${bf16Plain.losses[0].SA}, rel ${r.toExponential(2)}`;
});
await check('CUDA channels_last (fp32): losses equal the default layout (3 steps; rel < 5e-3, cuDNN picks other TF32 kernels)', async () => {
  const cl = await run('cuda', { impl: 'fused' }, data, files, (kds) => kds.setMemoryFormat('channels_last'), '-cl');
  const worst = worstRel(cl, fused);
  assert.ok(worst < 5e-3, `worst rel ${worst}`);
  return `worst rel ${worst.toExponential(2)}`;
});
await check('CUDA bf16 + channels_last + cuDNN autotuning: losses follow bf16 (3 steps; rel < 2e-2)', async () => {
  setCudnnBenchmark(true);
  try {
    const cl = await run('cuda', { impl: 'fused' }, data, files, (kds) => kds.setPrecision('bf16').setMemoryFormat('channels_last'), '-bf16cl');
    const worst = worstRel(cl, bf16);
    assert.ok(worst < 2e-2, `worst rel ${worst}`);
    assert.equal(info().cudnnBenchmark, true);
    return `worst rel ${worst.toExponential(2)}`;
  } finally {
    setCudnnBenchmark(false);
  }
});
await check('CUDA fp16 with dynamic loss scaling: finite losses close to fp32, skipped steps leave the weights, checkpoint keeps the scale', async () => {
  const more = [...data, ...batches(3, 4, 48, 48, 2, 2)];
  const fp16 = await run('cuda', { impl: 'fused' }, more, files, (kds) => kds.setPrecision('fp16'), '-fp16-keep');
  try {
    assert.ok(fp16.losses.every((l) => Number.isFinite(l.total)));
    const applied = fp16.losses.filter((l) => !l.skipped).length;
    assert.equal(fp16.kds.stepCount, applied);
    const firstRel = rel(fp16.losses[0].total, fused.losses[0].total);
    assert.ok(firstRel < 2e-2, `first-step rel to fp32 ${firstRel}`);
    const file = path.join(dir, 'fp16.ckpt');
    await fp16.kds.saveCheckpoint(file);
    const script = 'import sys, torch\nc = torch.load(sys.argv[1], map_location="cpu")\nprint(c["grad_scaler"]["scale"].item())';
    const saved = Number(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' }).trim());
    assert.ok(saved > 0);
    return `${applied}/${fp16.losses.length} steps applied, scales ${fp16.losses.map((l) => l.lossScale).join(', ')}, saved scale ${saved}`;
  } finally {
    await fp16.kds.dispose();
  }
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
  // From a file: torch.jit.script reads the class's source, which `python3 -c` code does not have.
  const scriptFile = path.join(dir, 'make_ts_teacher.py');
  fs.writeFileSync(scriptFile, script);
  execFileSync('python3', [scriptFile, file]);
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
