// How the CLI names and finds models: architecture strings such as 'edsr-r16f64', TorchScript files,
// and the JSON sidecar (`student.json` beside `student.pt`) that says what architecture a weights file is.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../atomic-file';
import { KDSError } from '../errors';
import { loadTorchScript, Model, models } from '../models';
import { ModelKindName, modelKind, modelKindNames } from '../models/registry';

/** A parsed architecture string: the kind and the options it names (other options keep their defaults). */
export interface Arch {
  kind: ModelKindName;
  options: Record<string, number>;
}

function archHelp(): string {
  const helps = modelKindNames().map((name) => modelKind(name)!.arch.help);
  return `${helps.slice(0, -1).join(', ')} or ${helps[helps.length - 1]}`;
}

/**
 * Architecture strings, one pattern per kind of the model table: 'edsr-r16f64' (EDSR's big model:
 * 'edsr-r32f256-rs0.1'), 'rcan-g10b20f64' (groups, RCABs per group, channels), 'san-g20b10f64'.
 */
export function parseArch(text: string): Arch {
  for (const kind of modelKindNames()) {
    const match = modelKind(kind)!.arch.pattern.exec(text);
    if (match) return { kind, options: modelKind(kind)!.arch.options(match) as Record<string, number> };
  }
  throw new KDSError('E_ARG', `unknown architecture '${text}': expected ${archHelp()}`);
}

export function buildArch(arch: string, scale: number): Model {
  const { kind, options } = parseArch(arch);
  return models[kind]({ ...options, scale });
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
