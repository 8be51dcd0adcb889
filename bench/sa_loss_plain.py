"""One measurement for bench/sa-loss.js: FAKD's spatial-affinity loss by the plain formula in PyTorch (the
tests' reference, test/fixtures/kds_reference/losses.py), forward + backward with respect to the student feature map, in this (fresh) process.

usage: python3 sa_loss_plain.py '{"batch":16,"cs":64,"ct":256,"size":48,"threads":2,"reps":3,"inputs":DIR}'
Prints one JSON line: median wall and CPU seconds (after one warm-up call), VmHWM after the first call and
after all of them, and the RSS before the first call.
       python3 sa_loss_plain.py --make-inputs '{"batch":16,"cs":64,"ct":256,"size":48,"inputs":DIR}'
writes DIR/student.f32 and DIR/teacher.f32 (uniform in [-1, 1), row-major), which both sides then read.
       python3 sa_loss_plain.py --gemm-rate '{"shapes": [[256, 320, 1152], ...], "seconds": 1}'
prints this machine's single-thread float32 GEMM rate (GFLOP/s, median of 5 timed runs of about
`seconds` / 5 each) for every m x k by k x n product: the rate a fused-loss tile's GEMMs can reach.
"""
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures'))
from kds_reference.losses import sa_loss  # noqa: E402
from loss_timing import measure_and_print  # noqa: E402


def make_inputs(job):
    gen = torch.Generator().manual_seed(12345)
    b, size = job['batch'], job['size']
    for name, channels in (('student', job['cs']), ('teacher', job['ct'])):
        x = torch.rand(b, channels, size, size, generator=gen).mul_(2).sub_(1)
        x.numpy().tofile(os.path.join(job['inputs'], name + '.f32'))


def read_input(job, name, channels):
    path = os.path.join(job['inputs'], name + '.f32')
    return torch.from_file(path, size=job['batch'] * channels * job['size'] ** 2).view(job['batch'], channels, job['size'], job['size'])


def gemm_rate(job):
    torch.set_num_threads(1)  # the fused loss runs one single-threaded GEMM per tile on every thread
    rates = []
    for m, k, n in job['shapes']:
        a, b, c = torch.rand(m, k) - 0.5, torch.rand(k, n) - 0.5, torch.empty(m, n)
        torch.mm(a, b, out=c)
        start = time.perf_counter()
        calls = 1
        while time.perf_counter() - start < 0.05:
            torch.mm(a, b, out=c)
            calls += 1
        per_run = max(1, int(calls * job['seconds'] / 5 / 0.05))
        samples = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(per_run):
                torch.mm(a, b, out=c)
            samples.append(2 * m * k * n * per_run / (time.perf_counter() - t0) / 1e9)
        rates.append({'shape': [m, k, n], 'gflops': statistics.median(samples)})
    print(json.dumps({'rates': rates, 'torch': torch.__version__}))


def main():
    if sys.argv[1] == '--make-inputs':
        return make_inputs(json.loads(sys.argv[2]))
    if sys.argv[1] == '--gemm-rate':
        return gemm_rate(json.loads(sys.argv[2]))
    job = json.loads(sys.argv[1])
    torch.set_num_threads(job['threads'])
    student = read_input(job, 'student', job['cs']).requires_grad_(True)
    teacher = read_input(job, 'teacher', job['ct'])
    # one tiny call starts the runtime's threads and buffers, which are not the loss's memory
    tiny = torch.rand(2, job['cs'], 8, 8, requires_grad=True)
    sa_loss(tiny, torch.rand(2, job['ct'], 8, 8)).backward()
    measure_and_print(lambda: sa_loss(student, teacher), [student], job['reps'])


if __name__ == '__main__':
    main()
