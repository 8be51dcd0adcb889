// The image references of test/fixtures/data_reference.py (MATLAB bicubic, PSNR/SSIM) for the data and
// metrics tests: images go to it as raw float32 files, resized images come back as raw float64 files.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pythonEnv } from './python.mjs';

const SCRIPT = fileURLToPath(new URL('../fixtures/data_reference.py', import.meta.url));

/** Reference runs whose files live in `dir`. */
export function dataReference(dir) {
  return {
    /** Runs the cases (see data_reference.py) as job `name`; returns their results in order. */
    run(name, cases) {
      const job = path.join(dir, `${name}.json`);
      fs.writeFileSync(job, JSON.stringify({ cases }));
      execFileSync('python3', [SCRIPT, job], { env: pythonEnv(), stdio: ['ignore', 'inherit', 'inherit'] });
      return JSON.parse(fs.readFileSync(job.replace(/\.json$/, '.out.json'), 'utf8')).results;
    },
    /** Writes a tensor's values as raw float32 file `name`; returns the name for a case. */
    writeRaw(name, tensor) {
      fs.writeFileSync(path.join(dir, name), Buffer.from(tensor.toFloat32Array().buffer));
      return name;
    },
    /** Reads the raw float64 file `name` that a case wrote. */
    readFloat64(name) {
      const b = fs.readFileSync(path.join(dir, name));
      return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
    },
  };
}
