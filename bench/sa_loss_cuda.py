"""kds's SA loss on a GPU: builds native/losses as a PyTorch extension (bench/sa_loss_torch_ext.cc), checks
the fused loss against the plain formula on CUDA tensors, and times both (forward + backward).

usage: python3 bench/sa_loss_cuda.py [--device cuda] [--quick]
Needs a PyTorch with CUDA, a C++ compiler and ninja; no Node. Prints one JSON line per result.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
from torch.utils.cpp_extension import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'test', 'fixtures'))
from kds_reference.losses import sa_loss  # noqa: E402  (the plain formula, the tests' reference)


def build():
    t0 = time.time()
    ext = load(
        name='kds_sa_loss',
        sources=[os.path.join(ROOT, p) for p in ('bench/sa_loss_torch_ext.cc', 'native/losses/affinity.cc',
                                                 'native/losses/affinity_fused.cc', 'native/core/tensor.cc')],
        extra_include_paths=[os.path.join(ROOT, 'native')],
        extra_cflags=['-O3'],
        verbose=False,
    )
    return ext, time.time() - t0


def loss_and_grad(fn, student, teacher):
    s = student.detach().clone().requires_grad_(True)
    value = fn(s, teacher)
    value.backward()
    return value.item(), s.grad


def check(ext, device, case):
    b, cs, ct, h, w = case['shape']
    gen = torch.Generator(device='cpu').manual_seed(case.get('seed', 0))
    student = torch.randn(b, cs, h, w, generator=gen, dtype=torch.float64).to(device)
    teacher = torch.randn(b, ct, h, w, generator=gen, dtype=torch.float64).to(device)
    if case.get('zeros'):
        student[:, :, 0, 0] = 0
    pool, k, eps, tile = case.get('pool', 'none'), case.get('poolSize', 2), 1e-8, case.get('tile', 0)
    ref_loss, ref_grad = loss_and_grad(lambda s, t: sa_loss(s, t, eps, pool, k), student, teacher)
    out = {'check': case['name'], 'device': device}
    for dtype in (torch.float64, torch.float32):
        loss, grad = loss_and_grad(lambda s, t: ext.sa_loss(s, t, 'fused', tile, pool, k, eps), student.to(dtype), teacher.to(dtype))
        key = 'float64' if dtype == torch.float64 else 'float32'
        out[key + '_loss_rel_err'] = abs(loss - ref_loss) / abs(ref_loss)
        # norm-wise: in float32 a few near-zero affinity differences may take the other sign
        out[key + '_grad_rel_err'] = ((grad.double() - ref_grad).norm() / ref_grad.norm()).item()
        out[key + '_grad_device'] = str(grad.device)
    print(json.dumps(out), flush=True)
    return out


def timed(fn, student, teacher, reps, device):
    s = student.detach().clone().requires_grad_(True)
    times = []
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    for r in range(reps + 1):
        t0 = time.perf_counter()
        value = fn(s, teacher)
        value.backward()
        torch.cuda.synchronize(device)
        if r > 0:
            times.append(time.perf_counter() - t0)
        s.grad = None
        del value
    peak = torch.cuda.max_memory_allocated(device) - base
    return statistics.median(times), peak


def bench(ext, device, setting, reps, run_plain):
    b, cs, ct, size = setting
    gen = torch.Generator(device='cpu').manual_seed(1)
    student = torch.randn(b, cs, size, size, generator=gen).to(device)
    teacher = torch.randn(b, ct, size, size, generator=gen).to(device)
    n = size * size
    out = {'bench': f'B {b}, C {cs} vs {ct}, {size}x{size}', 'device': torch.cuda.get_device_name(device),
           'tiles': ext.choose_tiles(b, n, 4, device)}
    out['fused_s'], peak = timed(lambda s, t: ext.sa_loss(s, t, 'fused', 0, 'none', 2, 1e-8), student, teacher, reps, device)
    out['fused_peak_MB'] = round(peak / 2 ** 20)
    free, _ = torch.cuda.mem_get_info(device)
    if run_plain and 5 * b * n * n * 4 < 0.8 * free:
        out['plain_s'], peak = timed(lambda s, t: sa_loss(s, t, 1e-8), student, teacher, reps, device)
        out['plain_peak_MB'] = round(peak / 2 ** 20)
        out['speedup'] = out['plain_s'] / out['fused_s']
    print(json.dumps(out), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--quick', action='store_true')
    args = parser.parse_args()
    ext, seconds = build()
    print(json.dumps({'built_s': round(seconds, 1), 'torch': torch.__version__, 'cuda': torch.version.cuda}), flush=True)
    device = args.device
    cases = [
        {'name': 'ragged tiles', 'shape': (2, 8, 16, 13, 11), 'tile': 32},
        {'name': 'auto tile, C 64 vs 256', 'shape': (4, 64, 256, 24, 24)},
        {'name': 'batch 1, tile 7', 'shape': (1, 5, 9, 6, 7), 'tile': 7},
        {'name': 'zero pixels', 'shape': (2, 8, 12, 9, 9), 'zeros': True},
        {'name': 'max pool', 'shape': (2, 8, 16, 12, 14), 'pool': 'max'},
        {'name': 'avg pool', 'shape': (2, 8, 16, 12, 12), 'pool': 'avg', 'poolSize': 3},
    ]
    for case in cases:
        check(ext, device, case)
    if not device.startswith('cuda'):
        return
    settings = [(16, 64, 256, 48)] if args.quick else [(16, 64, 256, 48), (16, 64, 256, 96), (4, 64, 256, 128)]
    for setting in settings:
        bench(ext, device, setting, 5, True)


if __name__ == '__main__':
    main()
