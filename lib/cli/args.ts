// Command-line flags: a declared list per command, `--name value`, `--name=value`, `--no-name` for
// switches, and positional arguments. Anything else is a UsageError (exit code 2).

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FlagType = 'string' | 'number' | 'int' | 'boolean' | 'ints';

export interface FlagSpec {
  name: string;
  type: FlagType;
  /** Shown in the usage, after the flag. */
  value?: string;
  help: string;
}

export type FlagValue = string | number | boolean | number[];

export interface Parsed {
  flags: Map<string, FlagValue>;
  positionals: string[];
  help: boolean;
}

function convert(spec: FlagSpec, raw: string): FlagValue {
  const bad = (expected: string) => new UsageError(`--${spec.name} expects ${expected}, got '${raw}'`);
  switch (spec.type) {
    case 'string':
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
export function parseArgs(argv: string[], specs: FlagSpec[]): Parsed {
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
  return { flags, positionals, help };
}

/** The options block of a command's usage (a spec named 'help' is shown as -h, --help). */
export function formatFlags(specs: FlagSpec[]): string {
  const left = specs.map((s) =>
    s.name === 'help' ? '  -h, --help' : `  --${s.type === 'boolean' ? `[no-]${s.name}` : s.name}${s.value ? ` ${s.value}` : ''}`,
  );
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return specs.map((s, i) => `${left[i].padEnd(width)}${s.help}`).join('\n');
}
