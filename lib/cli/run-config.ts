// The run description of `kds distill` and `kds train`: a JSON file (--config) and flags that override
// it. Which keys exist, which flag sets which key, the defaults and the value checks all come from the
// declarations in flags.ts; this file only applies them, in order: read the file, reject unknown keys,
// lay the flags over it, fill in defaults and check each value, then the checks that span several keys.
import fs from 'node:fs';
import path from 'node:path';
import type { LossOptions } from '../kds';
import { checkOptions, isPlainObject } from '../validate';
import { asUsage, FlagValue, isDescribedDefault, UsageError } from './args';
import { ConfigKey, configKeysFor, FLAGS, RunCommand, RunConfig } from './flags';
import { ModelRef } from './model-spec';

export type { RunConfig } from './flags';

type Json = Record<string, unknown>;

/** train has no teacher: L1 to the ground truth only. */
const TRAIN_LOSS: LossOptions = { SA: false, weights: { DS: 1, TS: 0, SA: 0 } };

function getPath(obj: Json, key: string): unknown {
  let v: unknown = obj;
  for (const part of key.split('.')) v = isPlainObject(v) ? v[part] : undefined;
  return v;
}

function setPath(obj: Json, key: string, value: unknown): void {
  const parts = key.split('.');
  let o = obj;
  for (const part of parts.slice(0, -1)) {
    if (!isPlainObject(o[part])) o[part] = {};
    o = o[part] as Json;
  }
  o[parts[parts.length - 1]] = value;
}

/** The JSON object in `file`; relative paths in it (keys declared as paths) are made relative to the file. */
export function readConfigFile(file: string): Json {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the config '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`the config '${file}' is not valid JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(body)) throw new UsageError(`the config '${file}' must hold a JSON object`);
  const base = path.dirname(path.resolve(file));
  for (const { key, type } of [...configKeysFor('distill'), ...configKeysFor('train')]) {
    const value = getPath(body, key);
    if (type === 'path' && typeof value === 'string') setPath(body, key, path.resolve(base, value));
  }
  return body;
}

/**
 * Rejects keys that no declaration names (a typo is an error, not an ignored setting), and keys of the
 * other command ('loss' in a train config).
 */
export function checkConfigKeys(config: Json, command: RunCommand): void {
  const mine: string[] = configKeysFor(command).map((k) => k.key);
  const other: string[] = configKeysFor(command === 'train' ? 'distill' : 'train').map((k) => k.key);
  const check = (obj: unknown, prefix: string) => {
    const below = (keys: string[]) => [...new Set(keys.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length).split('.')[0]))];
    const allowed = below(mine);
    const where = prefix === '' ? 'config' : prefix.slice(0, -1);
    if (isPlainObject(obj))
      for (const key of Object.keys(obj))
        if (!allowed.includes(key) && below(other).includes(key))
          throw new UsageError(`${where}: '${key}' is for kds ${command === 'train' ? 'distill' : 'train'} only`);
    const checked = asUsage(() => checkOptions(obj, where, allowed));
    for (const key of Object.keys(checked))
      if (!mine.includes(`${prefix}${key}`)) check(checked[key], `${prefix}${key}.`);
  };
  check(config, '');
}

/** The config with the given flags laid over it, in declaration order. */
export function applyFlags(config: Json, flags: Map<string, FlagValue>, command: RunCommand): Json {
  const settings = structuredClone(config);
  for (const flag of FLAGS) {
    if (flag.key === undefined || !flag.commands.includes(command) || !flags.has(flag.name)) continue;
    if (flag.keeps) {
      const parent = flag.key.split('.').slice(0, -1).join('.');
      const old = getPath(settings, parent);
      const kept = Object.fromEntries(flag.keeps.filter((k) => isPlainObject(old) && old[k] !== undefined).map((k) => [k, (old as Json)[k]]));
      setPath(settings, parent, kept);
    }
    setPath(settings, flag.key, flags.get(flag.name));
  }
  return settings;
}

/** One key: its default when unset, then its check (E_ARG becomes a usage error). */
function completeKey(settings: Json, decl: ConfigKey, command: RunCommand): void {
  let value = getPath(settings, decl.key);
  if (value === undefined && decl.default !== undefined) {
    value = isDescribedDefault(decl.default) ? decl.default.of?.(settings, command) : decl.default;
    if (value !== undefined) setPath(settings, decl.key, value);
  }
  if (value === undefined) {
    const flag = FLAGS.find((f) => f.key === decl.key);
    if (decl.required) throw new UsageError(`${flag ? `--${flag.name} ${flag.value ?? ''} (or ` : '('}${decl.key} in the config) is required`);
    return;
  }
  if (decl.check) asUsage(() => decl.check?.(value, decl.key));
}

/** Fills in defaults and checks every declared key, in declaration order (a default may use an earlier key). */
export function completeSettings(settings: Json, command: RunCommand): void {
  for (const decl of configKeysFor(command)) completeKey(settings, decl, command);
}

/** The checks that span keys: a model is either TorchScript or an architecture with weights; distill needs a teacher. */
function checkModels(settings: Json, command: RunCommand): void {
  for (const who of command === 'distill' ? ['teacher', 'student'] : ['student']) {
    const ref = (settings[who] ?? {}) as ModelRef;
    if (ref.torchscript && (ref.arch || ref.weights)) throw new UsageError(`${who}: give either torchscript or arch/weights, not both`);
  }
  const teacher = settings.teacher as ModelRef | undefined;
  if (command === 'distill' && !(teacher?.weights || teacher?.torchscript))
    throw new UsageError('distill needs a teacher: --teacher FILE (or "teacher" in the config)');
}

/** The settings with their top-level keys in declaration order (run.json reads teacher, student, data, ... whatever the flags' order). */
function inDeclarationOrder(settings: Json, command: RunCommand): Json {
  const order = new Set([...configKeysFor(command).map((k) => k.key.split('.')[0]), ...Object.keys(settings)]);
  return Object.fromEntries([...order].filter((k) => settings[k] !== undefined).map((k) => [k, settings[k]]));
}

/** Builds the run description from the flags (and the config file they name). */
export function runConfig(command: RunCommand, flags: Map<string, FlagValue>): RunConfig {
  const file = flags.get('config') as string | undefined;
  const config = file ? readConfigFile(file) : {};
  checkConfigKeys(config, command);
  const settings = applyFlags(config, flags, command);
  completeSettings(settings, command);
  checkModels(settings, command);
  settings.loss = command === 'train' ? structuredClone(TRAIN_LOSS) : settings.loss ?? {};
  settings.optimizer ??= {};
  return inDeclarationOrder(settings, command) as unknown as RunConfig;
}
