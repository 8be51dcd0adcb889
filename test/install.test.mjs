// Where LibTorch comes from (scripts/libtorch.js): the documented order, the shared cache two projects
// reuse, and the one message listing the three ways to provide LibTorch when none can be had. Each case
// runs a fresh copy of the script (a package folder with no LibTorch of its own) in its own process, with
// a python3 that cannot import torch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const SCRIPT = path.join(import.meta.dirname, '..', 'scripts', 'libtorch.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-install-'));
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

/** A package folder holding only scripts/libtorch.js. */
function packageCopy(name) {
  const dir = path.join(work, name);
  fs.mkdirSync(path.join(dir, 'scripts'), { recursive: true });
  fs.copyFileSync(SCRIPT, path.join(dir, 'scripts', 'libtorch.js'));
  return dir;
}

/** A fake LibTorch folder: what scripts/libtorch.js recognises (share/cmake/Torch/TorchConfig.cmake). */
function fakeLibTorch(dir) {
  fs.mkdirSync(path.join(dir, 'share', 'cmake', 'Torch'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'), '# fake\n');
  fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
  return dir;
}

// python3 whose `import torch` fails (a torch package that raises, first on its path), pip intact.
const noTorch = path.join(work, 'no-torch');
fs.mkdirSync(path.join(noTorch, 'torch'), { recursive: true });
fs.writeFileSync(path.join(noTorch, 'torch', '__init__.py'), 'raise ImportError("no torch in this test")\n');
const python = path.join(work, 'python3-without-torch');
fs.writeFileSync(python, `#!/bin/sh\nPYTHONPATH=${noTorch} exec python3 "$@"\n`, { mode: 0o755 });

/** Runs findLibTorch (and linkLibTorch) in pkg's copy; returns { status, found, stderr, seconds }. */
function find(pkg, env, { install = false } = {}) {
  const code = `const l = require(${JSON.stringify(path.join(pkg, 'scripts', 'libtorch.js'))});
    const t = l.findLibTorch({ install: ${install} }); l.linkLibTorch(t); console.log(JSON.stringify(t));`;
  const clean = { ...process.env };
  delete clean.LIBTORCH;
  const started = Date.now();
  const r = spawnSync(process.execPath, ['-e', code], {
    encoding: 'utf8', env: { ...clean, KDS_PYTHON: python, XDG_CACHE_HOME: path.join(work, 'empty-cache'), ...env },
  });
  return { status: r.status, found: r.status === 0 ? JSON.parse(r.stdout) : null, stderr: r.stderr, seconds: (Date.now() - started) / 1000 };
}

test('LIBTORCH: a LibTorch folder, the folder its zip was unpacked into, or site-packages', () => {
  const pkg = packageCopy('env');
  const plain = fakeLibTorch(path.join(work, 'libtorch-plain'));
  const zipParent = path.join(work, 'unzipped');
  fakeLibTorch(path.join(zipParent, 'libtorch'));
  const site = path.join(work, 'site-packages');
  fakeLibTorch(path.join(site, 'torch'));
  for (const [dir, root] of [[plain, plain], [zipParent, path.join(zipParent, 'libtorch')], [site, path.join(site, 'torch')]]) {
    const r = find(pkg, { LIBTORCH: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.found.source, 'LIBTORCH');
    assert.equal(r.found.root, root);
    assert.equal(fs.realpathSync(path.join(pkg, '.torch')), root);
  }
  const bad = find(pkg, { LIBTORCH: path.join(work, 'nowhere') });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /LIBTORCH=.*nowhere is not a LibTorch folder: there is no share\/cmake\/Torch\/TorchConfig\.cmake/);
});

test('two projects use the one LibTorch in the shared cache ($XDG_CACHE_HOME/kds)', () => {
  const xdg = path.join(work, 'xdg');
  const cached = fakeLibTorch(path.join(xdg, 'kds', 'libtorch-2.13.0-cpu', 'torch'));
  const a = find(packageCopy('project-a'), { XDG_CACHE_HOME: xdg });
  const b = find(packageCopy('project-b'), { XDG_CACHE_HOME: xdg });
  for (const r of [a, b]) {
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.found.source, 'the shared cache');
    assert.equal(r.found.root, cached);
  }
  assert.equal(fs.realpathSync(path.join(work, 'project-a', '.torch')), cached);
  assert.equal(fs.realpathSync(path.join(work, 'project-b', '.torch')), cached);
});

test('LIBTORCH comes before the shared cache', () => {
  const xdg = path.join(work, 'xdg-with-cache');
  fakeLibTorch(path.join(xdg, 'kds', 'libtorch-2.13.0-cpu', 'torch'));
  const own = fakeLibTorch(path.join(work, 'own-libtorch'));
  const r = find(packageCopy('project-c'), { XDG_CACHE_HOME: xdg, LIBTORCH: own });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.found.root, own);
});

const THREE_WAYS = [/Provide LibTorch 2\.13\.0 in one of three ways/, /1\. LIBTORCH=/, /2\. make `.*import torch"` work/, /3\. let kds install it with pip/];

test('no pip: one message that says so and lists the three ways to provide LibTorch', () => {
  // python3 -S: no site-packages, so neither pip nor torch (as on Debian without python3-pip).
  const bare = path.join(work, 'python3-without-site');
  fs.writeFileSync(bare, '#!/bin/sh\nexec python3 -S "$@"\n', { mode: 0o755 });
  const r = find(packageCopy('no-pip'), { KDS_PYTHON: bare }, { install: true });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /has no pip \(Debian\/Ubuntu: sudo apt install python3-pip\)/);
  for (const re of THREE_WAYS) assert.match(r.stderr, re);
  assert.equal(fs.existsSync(path.join(work, 'empty-cache', 'kds', 'libtorch-2.13.0-cpu')), false);
});

test('an unreachable package index: the install gives up within a minute, with the three ways', () => {
  const r = find(packageCopy('offline'), {
    PIP_INDEX_URL: 'http://127.0.0.1:9/', PIP_FIND_LINKS: '', PIP_CONFIG_FILE: '/dev/null', KDS_TORCH_INDEX_URL: 'http://127.0.0.1:9/',
  }, { install: true });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /kds found no LibTorch:/);
  assert.match(r.stderr, /LIBTORCH is not set/);
  assert.match(r.stderr, /cannot import torch/);
  assert.match(r.stderr, /pip could not install torch==2\.13\.0\+cpu/);
  for (const re of THREE_WAYS) assert.match(r.stderr, re);
  assert.ok(r.seconds < 60, `took ${r.seconds} s`);
  // Nothing half-installed is left in the cache.
  const cacheRoot = path.join(work, 'empty-cache', 'kds');
  assert.deepEqual(fs.existsSync(cacheRoot) ? fs.readdirSync(cacheRoot) : [], []);
});
