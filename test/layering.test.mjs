// lib/'s modules point downward: no import cycle (type-only imports included), and the addon's typed
// surface (native.ts, addon-types.ts) imports only leaf modules. scripts/check-imports.js reads the sources.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('lib/ has no import cycles and native.ts imports only leaf modules', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'check-imports.js')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /no import cycles/);
});
