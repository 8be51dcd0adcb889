// How the CLI names and finds models: architecture strings such as 'edsr-r16f64', TorchScript files,
// and the JSON sidecar (`student.json` beside `student.pt`) that says what architecture a weights file is.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../atomic-file';
import { KDSError } from '../errors';
import { loadTorchScript, Model, models } from '../models';

/** A parsed architecture string. */
export type Arch =
  | { family: 'edsr'; nResblocks: number; nFeats: number; resScale: number }
  | { family: 'rcan' | 'san'; nResgroups: number; nResblocks: number; nFeats: number };

const ARCH_HELP = 'edsr-r<blocks>f<channels>[-rs<resScale>] (e.g. edsr-r16f64), rcan-g<groups>b<blocks>f<channels> (e.g. rcan-g10b20f64) or san-g<groups>b<blocks>f<channels>';

/**
 * Architecture strings: 'edsr-r16f64' (EDSR's big model: 'edsr-r32f256-rs0.1'), 'rcan-g10b20f64' (groups,
 * RCABs per group, channels), 'san-g20b10f64'. Other options keep the zoo's defaults.
 */
export function parseArch(text: string): Arch {
  const edsr = /^edsr-r(\d+)f(\d+)(?:-rs(\d*\.?\d+))?$/.exec(text);
  if (edsr && Number(edsr[1]) >= 1 && Number(edsr[2]) >= 1)
    return { family: 'edsr', nResblocks: Number(edsr[1]), nFeats: Number(edsr[2]), resScale: edsr[3] ? Number(edsr[3]) : 1 };
  const grouped = /^(rcan|san)-g(\d+)b(\d+)f(\d+)$/.exec(text);
  if (grouped && [2, 3, 4].every((i) => Number(grouped[i]) >= 1))
    return { family: grouped[1] as 'rcan' | 'san', nResgroups: Number(grouped[2]), nResblocks: Number(grouped[3]), nFeats: Number(grouped[4]) };
  throw new KDSError('E_ARG', `unknown architecture '${text}': expected ${ARCH_HELP}`);
}

export function buildArch(arch: string, scale: number): Model {
  const a = parseArch(arch);
  if (a.family === 'edsr') return models.edsr({ scale, nResblocks: a.nResblocks, nFeats: a.nFeats, resScale: a.resScale });
  const options = { scale, nResgroups: a.nResgroups, nResblocks: a.nResblocks, nFeats: a.nFeats };
  return a.family === 'rcan' ? models.rcan(options) : models.san(options);
}

/** What a sidecar says about the weights file beside it. */
export interface ModelSidecar {
  format: 'kds-model';
  arch: string;
  scale: number;
  [key: string]: unknown;
}

export function sidecarPath(weights: string): string {
  return path.join(path.dirname(weights), `${path.basename(weights, path.extname(weights))}.json`);
}

export function writeSidecar(weights: string, arch: string, scale: number, extra: Record<string, unknown> = {}): void {
  const body: ModelSidecar = { format: 'kds-model', arch, scale, ...extra };
  writeFileAtomicSync(sidecarPath(weights), `${JSON.stringify(body, null, 2)}\n`);
}

export function readSidecar(weights: string): ModelSidecar | undefined {
  const file = sidecarPath(weights);
  if (!fs.existsSync(file)) return undefined;
  let body: Partial<ModelSidecar>;
  try {
    body = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new KDSError('E_FILE', `'${file}' is not valid JSON: ${(err as Error).message}`);
  }
  if (body.format !== 'kds-model' || typeof body.arch !== 'string' || !Number.isInteger(body.scale))
    throw new KDSError('E_FILE', `'${file}' is not a kds model description (it needs format 'kds-model', arch and scale)`);
  return body as ModelSidecar;
}

/** A model to load: an architecture with optional weights, or a TorchScript file. */
export interface ModelRef {
  arch?: string;
  weights?: string;
  torchscript?: string;
}

/**
 * Loads a model. With `arch`, builds it at `scale` and loads `weights` (a state dict) when given.
 * With `torchscript`, loads that file. A bare `weights` file uses its sidecar's architecture when there
 * is one, and is read as TorchScript otherwise.
 */
export async function loadModel(ref: ModelRef, scale: number | undefined, what: string): Promise<{ model: Model; arch: string; scale: number | undefined }> {
  if (ref.torchscript) {
    if (ref.arch || ref.weights) throw new KDSError('E_ARG', `${what}: give either a TorchScript file or an architecture with weights, not both`);
    return { model: await loadTorchScript(ref.torchscript), arch: 'torchscript', scale };
  }
  let arch = ref.arch;
  let archScale = scale;
  if (!arch && ref.weights) {
    const sidecar = readSidecar(ref.weights);
    if (!sidecar) return { model: await loadTorchScript(ref.weights), arch: 'torchscript', scale };
    arch = sidecar.arch;
    if (scale !== undefined && sidecar.scale !== scale)
      throw new KDSError('E_ARG', `${what}: '${ref.weights}' is a x${sidecar.scale} model (see ${sidecarPath(ref.weights)}) but the scale is ${scale}`);
    archScale = sidecar.scale;
  }
  if (!arch) throw new KDSError('E_ARG', `${what}: needs an architecture (e.g. edsr-r16f64) or a model file`);
  if (archScale === undefined) throw new KDSError('E_ARG', `${what}: the scale of '${arch}' is unknown; give --scale`);
  const model = buildArch(arch, archScale);
  if (ref.weights) await model.loadStateDict(ref.weights);
  return { model, arch, scale: archScale };
}
