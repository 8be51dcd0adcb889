"""One measurement for bench/feature-losses.js: one feature-distillation term by the authors' plain formula
in PyTorch (the transforms of test/fixtures/feature_losses_reference.py), forward + backward with respect
to the student maps, in this (fresh) process.

usage: python3 feature_losses_plain.py '{"type":"SA","options":{...},"batch":16,"cs":64,"ct":64,"size":48,
        "positions":3,"threads":2,"reps":3,"inputs":DIR}'
Prints one JSON line: median wall and CPU seconds (after one warm-up call), VmHWM after the first call and
after all of them, and the RSS before the first call.
       python3 feature_losses_plain.py --make-inputs '{...same job...}'
writes DIR/s<i>.f32 and DIR/t<i>.f32 (uniform in [-1, 1), row-major), which both sides then read.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures'))
from feature_losses_reference import loss_of  # noqa: E402
from loss_timing import measure_and_print  # noqa: E402


def shape(job, channels):
    return (job['batch'], channels, job['size'], job['size'])


def make_inputs(job):
    gen = torch.Generator().manual_seed(12345)
    for i in range(job['positions']):
        for name, channels in (('s', job['cs']), ('t', job['ct'])):
            x = torch.rand(*shape(job, channels), generator=gen).mul_(2).sub_(1)
            x.numpy().tofile(os.path.join(job['inputs'], f'{name}{i}.f32'))


def read_input(job, name, channels):
    size = shape(job, channels)
    return torch.from_file(os.path.join(job['inputs'], name + '.f32'), size=size[0] * size[1] * size[2] * size[3]).view(*size)


def main():
    if sys.argv[1] == '--make-inputs':
        return make_inputs(json.loads(sys.argv[2]))
    job = json.loads(sys.argv[1])
    torch.set_num_threads(job['threads'])
    case = {'type': job['type'], 'options': job['options']}
    students = [read_input(job, f's{i}', job['cs']).requires_grad_(True) for i in range(job['positions'])]
    teachers = [read_input(job, f't{i}', job['ct']) for i in range(job['positions'])]
    tiny_s = [torch.rand(2, job['cs'], 8, 8, requires_grad=True) for _ in range(job['positions'])]
    loss_of(case, tiny_s, [torch.rand(2, job['ct'], 8, 8) for _ in range(job['positions'])]).backward()
    measure_and_print(lambda: loss_of(case, students, teachers), students, job['reps'])


if __name__ == '__main__':
    main()
