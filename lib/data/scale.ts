import { invalidParameterError } from '../validate';

/** Checks an SR scale factor: an integer from 1 to 16. */
export function checkScale(value: unknown, what = 'scale'): number {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 16)
    throw invalidParameterError(what, 'an integer from 1 to 16 (2, 3, 4 and 8 are usual)', value);
  return value as number;
}
