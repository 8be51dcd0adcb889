// What a model kind declares, once, in lib/models/<kind>.ts: its options with defaults and checks (the
// complete spec the addon builds from), the student FAKD derives from a teacher, and its CLI name.
// lib/models/registry.ts lists the kinds; the factories, studentOf and the CLI read that table.
import { KDSError } from '../errors';
import { checkOptions, invalidParameterError, isPlainObject, positiveInt } from '../validate';

/** Upscaling factors every kind supports. */
export const SCALES = [2, 3, 4, 8] as const;

/** A kind's complete spec: its name plus every hyper-parameter (numbers and integer lists). */
export interface KindSpec<Name extends string = string> {
  architecture: Name;
}

/** Student sizes: the user's choice, else FAKD's default, capped at the teacher's. */
export type StudentSize = (key: 'nResblocks' | 'nFeats' | 'nResgroups', fakdDefault: number) => number;

export interface ModelKind<Name extends string, Options extends object, Spec extends KindSpec<Name>, Student extends object> {
  /** The spec's `architecture` and the addon's kind (native/models/registry.cc). */
  readonly name: Name;
  /** Checks `options` (unknown keys included) and fills every default: the complete spec. */
  spec(options?: Options): Spec;
  /** The options a student may set; any other is an error. */
  readonly studentKeys: readonly (keyof Student & string)[];
  /** The student's options for `teacher`: scale and rgbRange are the teacher's; `size` picks the sizes. */
  student(teacher: Spec, options: Student, size: StudentSize): Options;
  /** The CLI's architecture string (e.g. `edsr-r16f64`): its pattern, its help, the options it means. */
  readonly arch: { readonly pattern: RegExp; readonly help: string; options(match: RegExpExecArray): Options };
}

/** A kind seen without its own types, by code that treats every kind alike (the registry's readers). */
export type AnyModelKind = ModelKind<string, Record<string, unknown>, KindSpec, Record<string, unknown>>;

/** A kind's options: a plain object (`undefined` reads as `{}`) with no key outside `known`. */
export function kindOptions<T>(options: T | undefined, name: string, known: readonly string[]): T {
  if (options !== undefined && !isPlainObject(options)) throw invalidParameterError(`${name}: options`, 'an object', options);
  return checkOptions(options, name, known) as T;
}

/** Feature taps: a non-empty list of group counts, increasing, each between 1 and nResgroups. */
export function featureGroups(value: unknown, nResgroups: number, name: string): number[] {
  if (!Array.isArray(value) || value.length === 0) throw invalidParameterError(`${name}: featureGroups`, 'a non-empty array of group counts', value);
  value.forEach((g, i) => {
    if (!Number.isInteger(g) || g < 1 || g > nResgroups)
      throw invalidParameterError(`${name}: featureGroups[${i}]`, `an integer between 1 and nResgroups (${nResgroups})`, g);
    if (i > 0 && g < value[i - 1]) throw new KDSError('E_ARG', `${name}: featureGroups must be in increasing order, got [${value.join(', ')}]`);
  });
  return [...value];
}

/** A size that may not exceed another option (reduction <= nFeats, ...). */
export function atMost(value: number, limit: number, name: string, limitName: string): number {
  if (value > limit) throw invalidParameterError(name, `at most ${limitName} (${limit})`, value);
  return value;
}

/** The upscaling factor: 2, 3, 4 or 8. */
export function scaleOption(value: unknown, name: string): number {
  return positiveInt(value, `${name}: scale`, SCALES);
}
