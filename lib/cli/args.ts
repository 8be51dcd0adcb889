// Command-line flags: a declared list per command, `--name value`, `--name=value`, `--no-name` for
// switches, and positional arguments. Anything else is a UsageError (exit code 2).
import { KDSError } from '../errors';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** 'path' is a string naming a file or folder: relative paths in a config file are relative to the file. */
export type FlagType = 'string' | 'path' | 'number' | 'int' | 'boolean' | 'ints';

export type FlagValue = string | number | boolean | number[];

/**
 * A default the CLI does not simply fill in: help shows `shown`; `of` computes the value from the run
 * settings (without `of`, the library or the code that reads the flag applies it).
 */
export interface DescribedDefault {
  shown: string | number | boolean;
  of?: (settings: Record<string, unknown>, command: string) => unknown;
}

export interface FlagSpec {
  name: string;
  type: FlagType;
  /** Shown in the usage, after the flag. */
  value?: string;
  help: string;
  /** Shown in the usage as "(default X)"; a plain value is also what `Parsed.value` returns when the flag is absent. */
  default?: FlagValue | DescribedDefault;
  /** Shown in the usage as "(required)"; its absence is a usage error. */
  required?: boolean;
}

export interface Parsed {
  /** The flags given on the command line (no defaults). */
  flags: Map<string, FlagValue>;
  positionals: string[];
  help: boolean;
  /** The flag's value, else its declared plain default. */
  value<T extends FlagValue>(name: string): T | undefined;
}

export function isDescribedDefault(d: FlagSpec['default']): d is DescribedDefault {
  return typeof d === 'object' && !Array.isArray(d);
}

/** How help shows a default: booleans as on/off, small numbers as 1e-4, lists as 1,2. */
export function defaultText(d: FlagSpec['default']): string | undefined {
  if (d === undefined) return undefined;
  if (isDescribedDefault(d)) return defaultText(d.shown);
  if (typeof d === 'boolean') return d ? 'on' : 'off';
  if (Array.isArray(d)) return d.join(',');
  if (typeof d === 'number' && d !== 0 && Math.abs(d) < 1e-3) return d.toExponential();
  return String(d);
}

/** A KDSError E_ARG (lib/validate.ts's checks) as a usage error, so that a bad value is exit code 2 with one line; other errors as they are. */
export function asUsageError(err: unknown): unknown {
  return err instanceof KDSError && err.code === 'E_ARG' ? new UsageError(err.message) : err;
}

/** Runs `fn` (a check) with its argument errors turned into usage errors. */
export function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw asUsageError(err);
  }
}

function convert(spec: FlagSpec, raw: string): FlagValue {
  const bad = (expected: string) => new UsageError(`--${spec.name} expects ${expected}, got '${raw}'`);
  switch (spec.type) {
    case 'string':
    case 'path':
      if (raw === '') throw bad('a value');
      return raw;
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw bad('a number');
      return n;
    }
    case 'int': {
      const n = Number(raw);
      if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n)) throw bad('an integer');
      return n;
    }
    case 'ints': {
      const parts = raw.split(',').map((s) => s.trim());
      if (parts.some((p) => !/^\d+$/.test(p))) throw bad('comma-separated integers such as 1,2,3');
      return parts.map(Number);
    }
    case 'boolean': {
      if (['true', 'yes', '1'].includes(raw)) return true;
      if (['false', 'no', '0'].includes(raw)) return false;
      throw bad('true or false');
    }
  }
}

/** Parses argv against `specs`. `-h` and `--help` anywhere set `help`. `--` ends the flags. */
export function parseArgs(argv: string[], specs: readonly FlagSpec[]): Parsed {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const flags = new Map<string, FlagValue>();
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unknown option '${arg}'`);
    const eq = arg.indexOf('=');
    let name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let inline: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    let spec = byName.get(name);
    if (!spec && name.startsWith('no-') && byName.get(name.slice(3))?.type === 'boolean' && inline === undefined) {
      spec = byName.get(name.slice(3)) as FlagSpec;
      name = spec.name;
      inline = 'false';
    }
    if (!spec) throw new UsageError(`unknown option '--${name}'`);
    if (flags.has(name)) throw new UsageError(`--${name} is given twice`);
    let raw: string;
    if (inline !== undefined) raw = inline;
    else if (spec.type === 'boolean') raw = 'true';
    else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      raw = argv[++i];
    }
    flags.set(name, convert(spec, raw));
  }
  const value = <T extends FlagValue>(name: string): T | undefined => {
    if (flags.has(name)) return flags.get(name) as T;
    const d = byName.get(name)?.default;
    return d === undefined || isDescribedDefault(d) ? undefined : (d as T);
  };
  return { flags, positionals, help, value };
}

/** The options block of a command's usage: each flag, its help line and its default. */
export function formatFlags(specs: readonly FlagSpec[]): string {
  const all = [...specs, { name: 'help', type: 'boolean', help: 'show this help' } as FlagSpec];
  const left = all.map((s) =>
    s.name === 'help' ? '  -h, --help' : `  --${s.type === 'boolean' ? `[no-]${s.name}` : s.name}${s.value ? ` ${s.value}` : ''}`,
  );
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return all
    .map((s, i) => {
      const d = defaultText(s.default);
      return `${left[i].padEnd(width)}${s.help}${s.required ? ' (required)' : ''}${d === undefined ? '' : ` (default ${d})`}`;
    })
    .join('\n');
}
