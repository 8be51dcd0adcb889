# Makes the reference files for the CUDA smoke check (bench/zoo-cuda-check/main.cc): small EDSR, RCAN and SAN with
# random weights saved as state dicts (zip and legacy), float64 reference outputs, a scripted EDSR.
import copy
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures'))
from kds_reference import models  # noqa: E402
from zoo_make import randomise  # noqa: E402

out = sys.argv[1]
CONFIGS = {
    'edsr': dict(scale=4, nResblocks=4, nFeats=16, resScale=1.0),
    'rcan': dict(scale=4, nResgroups=3, nResblocks=2, nFeats=32, reduction=16, featureGroups=[1, 2]),
    'san': dict(scale=4, nResgroups=3, nResblocks=2, nFeats=32, reduction=16, featureGroups=[1, 2]),
}
g = torch.Generator().manual_seed(1)
x = torch.rand(2, 3, 23, 17, generator=g) * 255
refs = {'input': x}
for i, (arch, cfg) in enumerate(CONFIGS.items()):
    torch.manual_seed(10 + i)
    m = models.build(arch, cfg).eval()
    randomise(m, arch, 10 + i)
    torch.save(m.state_dict(), os.path.join(out, arch + '.pt'))
    torch.save(m.state_dict(), os.path.join(out, arch + '_legacy.pt'), _use_new_zipfile_serialization=False)
    with torch.no_grad():
        feats, y = copy.deepcopy(m).double()(x.double())
    refs[arch + '_out'] = y
    for j, f in enumerate(feats):
        refs['%s_f%d' % (arch, j)] = f
    if arch == 'edsr':
        torch.jit.script(m).save(os.path.join(out, 'edsr_ts.pt'))
torch.save(refs, os.path.join(out, 'refs.pt'))
print('torch', torch.__version__, 'cuda', torch.cuda.is_available())
