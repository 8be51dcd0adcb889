// The one home of option validation. Every reader of user options in lib/ uses these checks, so every
// bad value gets the same message shape: "<name> must be <expected>, got <what it was>" (code E_ARG).
// The CLI turns the same messages into usage errors (exit 2).
import { KDSError } from './errors';

/** A short, human description of any value, for error messages: `number NaN`, `the string 'x'`, `null`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  if (typeof value === 'string') return `the string '${value}'`;
  return `${typeof value} ${String(value)}`;
}

/** The error for a bad option: `<name> must be <expected>, got <describe(actual)>`. */
export function invalidParameterError(name: string, expected: string, actual: unknown): KDSError {
  return new KDSError('E_ARG', `${name} must be ${expected}, got ${describe(actual)}`);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

/**
 * Checks that `options` is a plain object whose keys are all in `known`, so that a typo ('nResBlocks') is
 * an error and not a silently ignored setting. `undefined` reads as `{}`.
 */
export function checkOptions(options: unknown, name: string, known: readonly string[]): Record<string, unknown> {
  if (options === undefined) return {};
  if (!isPlainObject(options)) throw invalidParameterError(name, 'an object', options);
  for (const key of Object.keys(options))
    if (!known.includes(key))
      throw new KDSError('E_ARG', `${name}: unknown option '${key}': expected one of ${known.join(', ')}`);
  return options;
}

/** An integer >= 1 (and one of `allowed` when given). */
export function positiveInt(value: unknown, name: string, allowed?: readonly number[]): number {
  if (!Number.isInteger(value) || (value as number) < 1) throw invalidParameterError(name, 'a positive integer', value);
  if (allowed && !allowed.includes(value as number)) throw invalidParameterError(name, `one of ${allowed.join(', ')}`, value);
  return value as number;
}

/** An integer >= 0. */
export function nonNegativeInt(value: unknown, name: string): number {
  if (!Number.isInteger(value) || (value as number) < 0) throw invalidParameterError(name, 'an integer >= 0', value);
  return value as number;
}

/** An integer >= 0 that a double holds exactly (a seed, a count that may exceed 2^32). */
export function nonNegativeSafeInt(value: unknown, name: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw invalidParameterError(name, 'a non-negative integer', value);
  return value as number;
}

/** An integer in [min, max]. */
export function intInRange(value: unknown, name: string, min: number, max: number): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max)
    throw invalidParameterError(name, `an integer between ${min} and ${max}`, value);
  return value as number;
}

/** A finite number. */
export function finiteNumber(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidParameterError(name, 'a finite number', value);
  return value;
}

/** A finite number > 0. */
export function positiveNumber(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !(value > 0)) throw invalidParameterError(name, 'a positive number', value);
  return value;
}

/** A finite number > `bound`. */
export function numberAbove(value: unknown, name: string, bound: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !(value > bound)) throw invalidParameterError(name, `a number > ${bound}`, value);
  return value;
}

/** A finite number >= 0. */
export function nonNegativeNumber(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !(value >= 0)) throw invalidParameterError(name, 'a finite number >= 0', value);
  return value;
}

/** A finite number in [min, max] (or (min, max] / [min, max) / (min, max) with the `open` flags). */
export function numberInRange(
  value: unknown, name: string, min: number, max: number, open: { min?: boolean; max?: boolean } = {},
): number {
  const ok = typeof value === 'number' && Number.isFinite(value) &&
    (open.min ? value > min : value >= min) && (open.max ? value < max : value <= max);
  if (!ok) throw invalidParameterError(name, `a number in ${open.min ? '(' : '['}${min}, ${max}${open.max ? ')' : ']'}`, value);
  return value as number;
}

export function boolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw invalidParameterError(name, 'a boolean', value);
  return value;
}

export function nonEmptyString(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalidParameterError(name, 'a non-empty string', value);
  return value;
}

/** One of a fixed set of strings ("'a', 'b' or 'c'" in the message). */
export function oneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    const quoted = allowed.map((a) => `'${a}'`);
    const expected = quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}` : quoted.join('');
    throw invalidParameterError(name, expected, value);
  }
  return value as T;
}

export function optionalFunction(value: unknown, name: string): void {
  if (value !== undefined && typeof value !== 'function') throw invalidParameterError(name, 'a function', value);
}

/** A non-empty array whose items pass `item` (called with `name[i]`). */
export function nonEmptyArray<T>(value: unknown, name: string, item: (v: unknown, itemName: string) => T): T[] {
  if (!Array.isArray(value) || value.length === 0) throw invalidParameterError(name, 'a non-empty array', value);
  return value.map((v, i) => item(v, `${name}[${i}]`));
}

/** `value` when defined, else `fallback`: the one way a default is applied after validation. */
export function orDefault<T>(value: T | undefined, fallback: T): T {
  return value === undefined ? fallback : value;
}
