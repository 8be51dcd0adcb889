// TypeScript owns every default: lib/ sends the addon complete option objects, and the glue fills nothing
// in. A key lib/ forgot (or sent with the wrong type) is an E_ARG naming the key and the expected type,
// never a value chosen quietly on the C++ side.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../dist/native.js';
import { SESSION_DEFAULTS } from '../dist/session-options.js';

function expectMissing(call, key, type) {
  assert.throws(call, (err) => {
    assert.equal(err.code, 'E_ARG', err.message);
    assert.match(err.message, new RegExp(`option '${key}' must be ${type}`));
    assert.match(err.message, /lib\/ must send every option \(a kds bug\)/);
    return true;
  });
}

test('every key of the session options is required by the glue', () => {
  const session = new (native().NativeSession)();
  const cases = [
    ['setLoss', SESSION_DEFAULTS.loss],
    ['setOptimizer', SESSION_DEFAULTS.optimizer],
    ['setPrecision', SESSION_DEFAULTS.precision],
  ];
  for (const [method, complete] of cases) {
    session[method](complete); // what lib/ sends is accepted
    for (const key of Object.keys(complete)) {
      const { [key]: _, ...missing } = complete;
      const type = typeof complete[key] === 'number' ? 'a number' : typeof complete[key] === 'boolean' ? 'a boolean'
        : Array.isArray(complete[key]) ? (complete[key].every(Number.isInteger) ? 'an array of integers' : 'an array of feature terms')
        : 'a string';
      expectMissing(() => session[method](missing), key, type);
      expectMissing(() => session[method]({ ...complete, [key]: null }), key, type);
    }
    assert.throws(() => session[method](), (err) => err.code === 'E_ARG' && /must be an object/.test(err.message));
  }
  // each feature term: its own keys and every option its registry row names
  const term = SESSION_DEFAULTS.loss.features[0];
  const withTerm = (t) => () => session.setLoss({ ...SESSION_DEFAULTS.loss, features: [t] });
  for (const [key, type] of [['type', 'a string'], ['weight', 'a number'], ['positions', 'an array of integers'], ['options', 'an object']]) {
    const { [key]: _, ...missing } = term;
    expectMissing(withTerm(missing), key, type);
  }
  for (const key of Object.keys(term.options)) {
    const { [key]: _, ...options } = term.options;
    expectMissing(withTerm({ ...term, options }), key, typeof term.options[key] === 'number' ? 'a number' : 'a string');
  }
  session.dispose();
});

test('the functional SA loss and image quality need complete options too', async () => {
  const feature = { data: new Float32Array(2 * 3 * 3).fill(1), shape: [1, 2, 3, 3] };
  const sa = { impl: 'fused', eps: 1e-8, tile: 0, pool: 'none', poolSize: 2, dtype: 'float32' };
  assert.ok(Number.isFinite((await native().spatialAffinityLoss(feature, feature, sa)).loss));
  const { tile: _, ...noTile } = sa;
  expectMissing(() => native().spatialAffinityLoss(feature, feature, noTile), 'tile', 'a number');
  const image = { data: new Float32Array(3 * 4 * 4).fill(7), shape: [1, 3, 4, 4] };
  expectMissing(() => native().imageQuality(image, image, { shave: 0, psnr: true }), 'ssim', 'a boolean');
});
