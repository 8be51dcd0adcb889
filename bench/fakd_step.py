"""One FAKD distillation step in plain PyTorch, timed: the reference against which bench/run.js measures kds.

Written the way the FAKD reference code trains (not optimised): the teacher runs under no_grad, the student
forward follows, DS and TS are L1 losses, the SA loss builds the full N x N spatial-affinity matrix of every
feature tap for teacher and student and takes the L1 of their difference, then zero_grad, backward and an
Adam step. The EDSR below has EDSR-PyTorch's module layout and FAKD's four taps, like kds' models.edsr().

Runs one configuration in this process and prints one JSON line (step times, phase times, peak memory).
Usage: python3 bench/fakd_step.py '{"teacher": [16, 64], "student": [4, 16], "batch": 4, "patch": 24, ...}'
GPU options (bench/gpu-bench.js), each as commonly done in PyTorch: "device": "cuda" (batches made on the
host, pinned, copied with non_blocking every step, as a DataLoader with pin_memory does), "precision":
"bf16" | "fp16" (torch.autocast around the forward passes, the losses on .float() outputs; fp16 with
torch.amp.GradScaler), "channelsLast": true (models and batches in torch.channels_last), "cudnnBenchmark".
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

RGB_MEAN = (0.4488, 0.4371, 0.4040)


def conv3x3(in_channels, out_channels):
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=True)


class MeanShift(nn.Conv2d):
    """Adds (sign +1) or subtracts (sign -1) the DIV2K RGB mean, as a frozen 1x1 convolution."""

    def __init__(self, rgb_range, sign):
        super().__init__(3, 3, kernel_size=1)
        self.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.bias.data = sign * rgb_range * torch.tensor(RGB_MEAN)
        for p in self.parameters():
            p.requires_grad = False


class ResBlock(nn.Module):
    def __init__(self, n_feats, res_scale):
        super().__init__()
        self.body = nn.Sequential(conv3x3(n_feats, n_feats), nn.ReLU(True), conv3x3(n_feats, n_feats))
        self.res_scale = res_scale

    def forward(self, x):
        return self.body(x).mul(self.res_scale) + x


class Upsampler(nn.Sequential):
    def __init__(self, scale, n_feats):
        layers = []
        if scale in (2, 4, 8):
            for _ in range({2: 1, 4: 2, 8: 3}[scale]):
                layers += [conv3x3(n_feats, 4 * n_feats), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [conv3x3(n_feats, 9 * n_feats), nn.PixelShuffle(3)]
        else:
            raise ValueError(f'scale {scale} is not supported')
        super().__init__(*layers)


class EDSR(nn.Module):
    """EDSR-PyTorch's layout (sub_mean, head, body.{i}, body.{n}, tail, add_mean) with FAKD's feature taps:
    the head output and the outputs of three consecutive groups of residual blocks (sizes n//3,
    2n//3 - n//3, n - 2n//3), the last group closed by the body's final conv and the global skip."""

    def __init__(self, n_resblocks, n_feats, scale, res_scale=1.0, rgb_range=255):
        super().__init__()
        self.sub_mean = MeanShift(rgb_range, -1)
        self.head = nn.Sequential(conv3x3(3, n_feats))
        self.body = nn.Sequential(*[ResBlock(n_feats, res_scale) for _ in range(n_resblocks)], conv3x3(n_feats, n_feats))
        self.tail = nn.Sequential(Upsampler(scale, n_feats), conv3x3(n_feats, 3))
        self.add_mean = MeanShift(rgb_range, +1)
        self.group_ends = (n_resblocks // 3, 2 * n_resblocks // 3)

    def forward(self, x):
        x = self.head(self.sub_mean(x))
        features = [x]
        res = x
        start = 0
        for end in self.group_ends:
            for block in self.body[start:end]:
                res = block(res)
            features.append(res)
            start = end
        for layer in self.body[start:]:
            res = layer(res)
        res = res + x
        features.append(res)
        return features, self.add_mean(self.tail(res))


def spatial_affinity(feature_map, eps):
    """FAKD's spatial affinity: cosine similarity of every pair of pixels, a full B x N x N matrix."""
    b, c = feature_map.shape[:2]
    flat = feature_map.reshape(b, c, -1)
    norm = torch.sqrt(torch.sum(flat.pow(2), dim=1, keepdim=True))
    unit = flat / (norm + eps)
    return unit.transpose(1, 2).bmm(unit)


def peak_memory_kb():
    with open('/proc/self/status') as status:
        fields = dict(line.split(':', 1) for line in status)
    return {key: int(fields[key].split()[0]) for key in ('VmHWM', 'VmRSS')}


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
    autocast_dtype = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}[precision]
    memory_format = torch.channels_last if cfg.get('channelsLast') else torch.contiguous_format
    if 'cudnnBenchmark' in cfg:
        torch.backends.cudnn.benchmark = bool(cfg['cudnnBenchmark'])
    on_gpu = device.type == 'cuda'

    teacher = EDSR(*cfg['teacher'], scale).to(device, memory_format=memory_format)
    for p in teacher.parameters():
        p.requires_grad = False
    teacher.eval()
    student = EDSR(*cfg['student'], scale).to(device, memory_format=memory_format)
    student.train()
    optimizer = torch.optim.Adam([p for p in student.parameters() if p.requires_grad], lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    scaler = torch.amp.GradScaler(device.type) if precision == 'fp16' else None
    lr_host = torch.rand(batch, 3, patch, patch) * 255
    hr_host = torch.rand(batch, 3, scale * patch, scale * patch) * 255
    if on_gpu:
        lr_host, hr_host = lr_host.pin_memory(), hr_host.pin_memory()
    skipped = 0
    memory_before = peak_memory_kb()['VmRSS']

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
        with torch.autocast(device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            with torch.no_grad():
                teacher_features, teacher_sr = teacher(lr)
            lap('teacherForward')
            student_features, student_sr = student(lr)
            lap('studentForward')
        if autocast_dtype is not None:  # the losses in float32, as kds computes them
            teacher_features, teacher_sr = [f.float() for f in teacher_features], teacher_sr.float()
            student_features, student_sr = [f.float() for f in student_features], student_sr.float()
        ds = F.l1_loss(student_sr, hr)
        ts = F.l1_loss(student_sr, teacher_sr)
        total = weights['DS'] * ds + weights['TS'] * ts
        if use_sa:
            student_affinities = [spatial_affinity(f, eps) for f in student_features]
            teacher_affinities = [spatial_affinity(f, eps) for f in teacher_features]
            sa = sum(F.l1_loss(s, t) for s, t in zip(student_affinities, teacher_affinities))
            total = total + weights['SA'] * sa
        loss_value = total.item()
        lap('loss')
        optimizer.zero_grad()
        if scaler is None:
            total.backward()
            lap('backward')
            optimizer.step()
        else:
            scale_before = scaler.get_scale()
            scaler.scale(total).backward()
            lap('backward')
            scaler.step(optimizer)
            scaler.update()
            skipped += scaler.get_scale() < scale_before
        lap('optimizer')
        phases['total'] = (time.perf_counter() - start) * 1000
        return loss_value, phases

    for _ in range(cfg['warmup']):
        step()
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
