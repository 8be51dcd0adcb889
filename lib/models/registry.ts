// The model table: every kind kds builds, one row each. models.<kind>(), studentOf, Model.spec's type and
// the CLI's architecture strings all read it; native/models/registry.cc is its C++ twin (same names).
// Adding a kind: docs/contributing.md.
import type { AnyModelKind } from './kind';
import { edsr } from './edsr';
import { rcan } from './rcan';
import { san } from './san';

export const MODEL_KINDS = {
  /** EDSR with FAKD's four feature taps: head output and the outputs of three groups of residual blocks. */
  edsr,
  /** RCAN with FAKD's four feature taps: head output, two residual groups' outputs, body output. */
  rcan,
  /** SAN with FAKD's four feature taps: head output, two groups' outputs, final non-local output. */
  san,
};

type Kinds = typeof MODEL_KINDS;
export type ModelKindName = keyof Kinds;

/** A kind's options, its complete spec and its student options, by kind name. */
export type OptionsOf<K extends ModelKindName> = NonNullable<Parameters<Kinds[K]['spec']>[0]>;
type SpecOf<K extends ModelKindName> = ReturnType<Kinds[K]['spec']>;
type StudentOptionsOf<K extends ModelKindName> = Parameters<Kinds[K]['student']>[1];
type Intersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;

/** The complete hyper-parameters of a kds-built model (see {@link Model.spec}). */
export type ModelSpec = { [K in ModelKindName]: SpecOf<K> }[ModelKindName];

/**
 * What a student may change from its teacher; everything else (architecture, scale, rgbRange) is the
 * teacher's. Unset sizes take FAKD's student for that architecture, capped at the teacher's size:
 * EDSR 16 blocks x 64 channels, resScale 1; RCAN 6 RCABs per group; SAN 6 groups.
 */
export type StudentOptions = Intersection<{ [K in ModelKindName]: StudentOptionsOf<K> }[ModelKindName]>;

/** The kind called `name`, typed loosely for code that treats every kind alike; undefined if none. */
export function modelKind(name: unknown): AnyModelKind | undefined {
  return typeof name === 'string' && Object.hasOwn(MODEL_KINDS, name) ? (MODEL_KINDS[name as ModelKindName] as unknown as AnyModelKind) : undefined;
}

export function modelKindNames(): ModelKindName[] {
  return Object.keys(MODEL_KINDS) as ModelKindName[];
}
