// Numeric closeness with stated tolerances, and the shape of the errors kds must throw.
import assert from 'node:assert/strict';
import { KDSError } from '../../dist/index.js';

/** Largest |a - b| and largest |b| over two equally long arrays. */
export function maxAbsDiff(actual, expected) {
  assert.equal(actual.length, expected.length, 'arrays of different lengths');
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= diff)) diff = d; // NaN propagates as the worst difference
    ref = Math.max(ref, Math.abs(expected[i]));
  }
  return { diff, ref };
}

/** |actual - expected| <= atol + rtol * |expected| for one number. */
export function assertClose(actual, expected, { rtol = 0, atol = 0 }, label) {
  const bound = atol + rtol * Math.abs(expected);
  assert.ok(Number.isFinite(actual) && Math.abs(actual - expected) <= bound,
    `${label}: got ${actual}, expected ${expected} (|diff| ${Math.abs(actual - expected)} > ${bound})`);
}

/** Every entry within atol; shapes equal. */
export function assertTensorClose(actual, expected, atol, label) {
  assert.deepEqual([...actual.shape], [...expected.shape], `${label}: shape`);
  const { diff } = maxAbsDiff(actual.data, expected.data);
  assert.ok(diff <= atol, `${label}: max |diff| ${diff} > ${atol}`);
}

/** The values of a kds Tensor or { data, shape } as { data, shape }. */
export function values(tensor) {
  return tensor.data ? tensor : { data: tensor.toFloat32Array(), shape: tensor.shape };
}

/**
 * Checks that fn() throws (or returns a Promise that rejects with) a KDSError with `code` whose message
 * matches `message`. Returns the error.
 */
export async function expectKDSError(fn, code, message) {
  let error;
  try {
    await fn();
  } catch (err) {
    error = err;
  }
  assert.ok(error, `expected a KDSError ${code}, but nothing was thrown`);
  assert.ok(error instanceof KDSError, `expected a KDSError, got ${error?.name}: ${error?.message}`);
  assert.equal(error.code, code, `wrong code for: ${error.message}`);
  assert.match(error.message, message);
  return error;
}

/** The loss parts of a train() result, without its wall-clock `timings` (never equal between runs). */
export function lossParts({ total, DS, TS, SA }) {
  return { total, DS, TS, SA };
}
