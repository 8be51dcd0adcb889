"""The measurement both plain-formula loss benchmarks (sa_loss_plain.py, feature_losses_plain.py) make in
their fresh process: forward + backward `reps` times after one warm-up call, timed, with the memory
figures their Node drivers compare against kds's."""
import json
import re
import statistics
import time

import torch


def status(field):
    """A memory field of /proc/self/status (VmRSS, VmHWM), in bytes."""
    with open('/proc/self/status') as f:
        return int(re.search(rf'^{field}:\s+(\d+) kB', f.read(), re.M).group(1)) * 1024


def measure_and_print(forward, students, reps):
    """Runs forward() (returns the loss) and its backward reps + 1 times, clearing the students' gradients
    before each; prints one JSON line: median wall and CPU seconds of the timed calls, VmHWM after the
    warm-up call and after all of them, the RSS before the first call, and the last loss value."""
    baseline = status('VmRSS')
    times, cpu_times = [], []
    first_hwm, loss = 0, 0.0
    for r in range(reps + 1):
        for s in students:
            s.grad = None
        t0, c0 = time.perf_counter(), time.process_time()
        value = forward()
        value.backward()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        loss = value.item()
        del value
        if r == 0:  # warms up; its peak is one call's peak
            first_hwm = status('VmHWM')
        else:
            times.append(dt)
            cpu_times.append(dc)
    print(json.dumps({'seconds': statistics.median(times), 'cpuSeconds': statistics.median(cpu_times), 'times': times,
                      'hwm': status('VmHWM'), 'firstHwm': first_hwm, 'baseline': baseline, 'loss': loss,
                      'threads': torch.get_num_threads(), 'torch': torch.__version__}))
