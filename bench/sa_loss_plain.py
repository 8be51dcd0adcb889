"""One measurement for bench/sa-loss.js: FAKD's spatial-affinity loss by the plain formula in PyTorch (the
tests' reference, test/fixtures/kds_reference/losses.py), forward + backward with respect to the student feature map, in this (fresh) process.

usage: python3 sa_loss_plain.py '{"batch":16,"cs":64,"ct":256,"size":48,"threads":2,"reps":3,"inputs":DIR}'
Prints one JSON line: median wall and CPU seconds (after one warm-up call), VmHWM after the first call and
after all of them, and the RSS before the first call.
       python3 sa_loss_plain.py --make-inputs '{"batch":16,"cs":64,"ct":256,"size":48,"inputs":DIR}'
writes DIR/student.f32 and DIR/teacher.f32 (uniform in [-1, 1), row-major), which both sides then read.
"""
import json
import os
import re
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures'))
from kds_reference.losses import sa_loss  # noqa: E402


def status(field):
    with open('/proc/self/status') as f:
        return int(re.search(rf'^{field}:\s+(\d+) kB', f.read(), re.M).group(1)) * 1024


def make_inputs(job):
    gen = torch.Generator().manual_seed(12345)
    b, size = job['batch'], job['size']
    for name, channels in (('student', job['cs']), ('teacher', job['ct'])):
        x = torch.rand(b, channels, size, size, generator=gen).mul_(2).sub_(1)
        x.numpy().tofile(os.path.join(job['inputs'], name + '.f32'))


def read_input(job, name, channels):
    path = os.path.join(job['inputs'], name + '.f32')
    return torch.from_file(path, size=job['batch'] * channels * job['size'] ** 2).view(job['batch'], channels, job['size'], job['size'])


def main():
    if sys.argv[1] == '--make-inputs':
        return make_inputs(json.loads(sys.argv[2]))
    job = json.loads(sys.argv[1])
    torch.set_num_threads(job['threads'])
    student = read_input(job, 'student', job['cs']).requires_grad_(True)
    teacher = read_input(job, 'teacher', job['ct'])
    # one tiny call starts the runtime's threads and buffers, which are not the loss's memory
    tiny = torch.rand(2, job['cs'], 8, 8, requires_grad=True)
    sa_loss(tiny, torch.rand(2, job['ct'], 8, 8)).backward()
    baseline = status('VmRSS')
    times, cpu_times = [], []
    loss = 0.0
    first_hwm = 0
    for r in range(job['reps'] + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        value = sa_loss(student, teacher)
        value.backward()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        loss = value.item()
        student.grad = None
        del value
        if r == 0:  # warms up; its peak is one call's peak
            first_hwm = status('VmHWM')
        else:
            times.append(dt)
            cpu_times.append(cpu)
    print(json.dumps({'seconds': statistics.median(times), 'cpuSeconds': statistics.median(cpu_times), 'times': times,
                      'hwm': status('VmHWM'), 'firstHwm': first_hwm, 'baseline': baseline, 'loss': loss,
                      'threads': torch.get_num_threads(), 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
