"""One FAKD distillation step in plain PyTorch, timed: the reference against which bench/run.js measures kds.

Written the way the FAKD reference code trains (not optimised; the step and the EDSR are the tests' own
references, test/fixtures/kds_reference): the teacher runs under no_grad, the student forward follows, DS and
TS are L1 losses, the SA loss builds the full N x N spatial-affinity matrix of every feature tap for teacher
and student and takes the L1 of their difference, then zero_grad, backward and an Adam step. The EDSR has
EDSR-PyTorch's module layout and FAKD's four taps, like kds' models.edsr().

Runs one configuration in this process and prints one JSON line (step times, phase times, peak memory).
Usage: python3 bench/fakd_step.py '{"teacher": [16, 64], "student": [4, 16], "batch": 4, "patch": 24, ...}'
GPU options (bench/gpu-bench.js), each as commonly done in PyTorch: "device": "cuda" (batches made on the
host, pinned, copied with non_blocking every step, as a DataLoader with pin_memory does), "precision":
"bf16" | "fp16" (torch.autocast around the forward passes, the losses on .float() outputs; fp16 with
torch.amp.GradScaler), "teacherPrecision": "fp32" | "bf16" | "fp16" (the teacher forward's own autocast,
as kds.setTeacherPrecision), "channelsLast": true (models and batches in torch.channels_last), "cudnnBenchmark".
"compile": true runs the step as a performance-minded PyTorch user would: torch.compile (inductor, default
mode) of the teacher forward and of the student forward with the losses (AOTAutograd compiles its backward
too); zero_grad and Adam stay eager. The first step, which compiles, is reported as firstStepMs; its phases
are teacherForward and loss (the student forward inside it), backward and optimizer.
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures'))
from kds_reference.models import EDSR  # noqa: E402
from kds_reference.losses import as_floats, fakd_losses  # noqa: E402
from kds_reference.step import fakd_step  # noqa: E402


def peak_memory_kb():
    with open('/proc/self/status') as status:
        fields = dict(line.split(':', 1) for line in status)
    return {key: int(fields[key].split()[0]) for key in ('VmHWM', 'VmRSS')}


def compiled_fakd_step(teacher, student, optimizer, weights, use_sa, eps):
    """One fp32 FAKD step with the teacher forward and the student forward + losses under torch.compile."""
    teacher_forward = torch.compile(teacher)

    def student_losses(lr, hr, teacher_result):
        return fakd_losses(student(lr), teacher_result, hr, weights, use_sa, None, eps)

    student_forward_and_losses = torch.compile(student_losses)

    def step(lr, hr, lap):
        with torch.no_grad():
            teacher_result = teacher_forward(lr)
        lap('teacherForward')
        losses = student_forward_and_losses(lr, hr, teacher_result)
        record = as_floats(losses)
        lap('loss')
        optimizer.zero_grad(set_to_none=True)
        losses['total'].backward()
        lap('backward')
        optimizer.step()
        lap('optimizer')
        return record

    return step


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(cfg['threads'])
    torch.manual_seed(cfg.get('seed', 100))
    scale, batch, patch = cfg['scale'], cfg['batch'], cfg['patch']
    use_sa = cfg['sa'] != 'off'
    eps = cfg.get('eps', 1e-8)
    weights = {'DS': 0.5, 'TS': 0.5, 'SA': 1.0}
    device = torch.device(cfg.get('device', 'cpu'))
    precision = cfg.get('precision', 'fp32')
    dtypes = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16, 'step': 'step'}
    autocast_dtype = dtypes[precision]
    teacher_dtype = dtypes[cfg.get('teacherPrecision') or 'step']
    memory_format = torch.channels_last if cfg.get('channelsLast') else torch.contiguous_format
    if 'cudnnBenchmark' in cfg:
        torch.backends.cudnn.benchmark = bool(cfg['cudnnBenchmark'])
    on_gpu = device.type == 'cuda'

    teacher = EDSR(scale, *cfg['teacher']).to(device, memory_format=memory_format)
    for p in teacher.parameters():
        p.requires_grad = False
    teacher.eval()
    student = EDSR(scale, *cfg['student']).to(device, memory_format=memory_format)
    student.train()
    optimizer = torch.optim.Adam([p for p in student.parameters() if p.requires_grad], lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    scaler = torch.amp.GradScaler(device.type) if precision == 'fp16' else None
    lr_host = torch.rand(batch, 3, patch, patch) * 255
    hr_host = torch.rand(batch, 3, scale * patch, scale * patch) * 255
    if on_gpu:
        lr_host, hr_host = lr_host.pin_memory(), hr_host.pin_memory()
    skipped = 0
    memory_before = peak_memory_kb()['VmRSS']
    compiled = compiled_fakd_step(teacher, student, optimizer, weights, use_sa, eps) if cfg.get('compile') else None
    if compiled and precision != 'fp32':
        raise SystemExit('fakd_step.py: "compile" is measured in fp32 only')

    def step():
        nonlocal skipped
        phases = {}
        clock = time.perf_counter()

        def lap(name):
            nonlocal clock
            now = time.perf_counter()
            phases[name] = (now - clock) * 1000
            clock = now

        start = clock
        lr = lr_host.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        hr = hr_host.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        if compiled:
            losses = compiled(lr, hr, lap)
        else:
            losses = fakd_step(teacher, student, optimizer, lr, hr, weights, use_sa, eps, autocast_dtype, scaler, lap,
                               teacher_dtype=teacher_dtype)
        skipped += losses.get('skipped', False)
        phases['total'] = (time.perf_counter() - start) * 1000
        return losses['total'], phases

    first_steps = [step()[1]['total'] for _ in range(cfg['warmup'])]
    if on_gpu:
        torch.cuda.synchronize()
    steps = []
    measured_ms = 0.0
    while len(steps) < cfg['minSteps'] or (len(steps) < cfg['maxSteps'] and measured_ms < cfg['budgetMs']):
        loss_value, phases = step()
        steps.append(phases)
        measured_ms += phases['total']
    memory = peak_memory_kb()
    print(json.dumps({
        'impl': 'pytorch',
        'torchVersion': torch.__version__,
        'threads': torch.get_num_threads(),
        'compiled': bool(compiled),
        'firstStepMs': first_steps[0] if first_steps else None,
        'stepMs': [s['total'] for s in steps],
        'phasesMs': steps,
        'lastLoss': loss_value,
        'skipped': skipped,
        'device': str(device),
        'gpu': torch.cuda.get_device_name(device) if on_gpu else None,
        'rssBeforeKB': memory_before,
        'peakRssKB': memory['VmHWM'],
    }))


if __name__ == '__main__':
    main()
