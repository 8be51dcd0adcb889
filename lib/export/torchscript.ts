// ONNX export of a TorchScript model: kds cannot read an arbitrary TorchScript graph, so python3's
// torch.onnx does it (scripts/torchscript-to-onnx.py), with the torch kds was built against when kds
// installed its own. Needs torch and onnx importable by python3; otherwise a KDSError says how to get them.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KDSError } from '../errors';
import type { ExportableModel as Model, ExportSettings } from './exportable';

const SCRIPT = path.resolve(__dirname, '..', '..', 'scripts', 'torchscript-to-onnx.py');

/** PYTHONPATH with the torch kds installed (.libtorch/python) ahead of the user's. */
function pythonEnv(): NodeJS.ProcessEnv {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { pythonPathForTorch } = require('../../scripts/libtorch.js') as { pythonPathForTorch(): string };
  const PYTHONPATH = [pythonPathForTorch(), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter);
  return { ...process.env, PYTHONPATH, PYTHONWARNINGS: 'ignore' };
}

function run(args: string[]): Promise<{ code: number | string | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile('python3', args, { env: pythonEnv(), maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
      resolve({ code: err ? ((err as NodeJS.ErrnoException).code ?? (err as { signal?: string }).signal ?? 1) : 0, stderr });
    });
  });
}

/** @internal The ONNX bytes of a TorchScript model, via python3's torch.onnx. */
export async function exportTorchScriptOnnx(model: Model, settings: ExportSettings): Promise<Uint8Array> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-onnx-'));
  try {
    const source = path.join(dir, 'model.pt');
    const target = path.join(dir, 'model.onnx');
    await model.save(source); // the current weights, which may have been trained since loading
    const json = JSON.stringify({ opset: settings.opset, fp16: settings.fp16, features: model.hasFeatures, size: settings.size });
    const { code, stderr } = await run([SCRIPT, source, target, json]);
    const detail = stderr.trim().split('\n').slice(-3).join('\n');
    if (code === 'ENOENT')
      throw new KDSError('E_NATIVE', 'exporting a TorchScript model to ONNX needs python3 with torch and onnx; python3 was not found on the PATH');
    if (code === 3)
      throw new KDSError('E_NATIVE', `exporting a TorchScript model to ONNX needs python3 with torch and onnx: ${detail}. Install torch (e.g. \`python3 -m pip install torch\`), or export a model built with models.edsr/rcan/san, which kds writes itself`);
    if (code === 4)
      throw new KDSError('E_NATIVE', `exporting a TorchScript model to ONNX needs python3 with torch and onnx: ${detail}. Install it with \`python3 -m pip install onnx\` (or put it on PYTHONPATH)`);
    if (code !== 0) throw new KDSError('E_FILE', `torch.onnx could not export this TorchScript model:\n${detail}`);
    return fs.readFileSync(target);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
