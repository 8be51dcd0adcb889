'use strict';
// `npm run check:pack`: is the npm package what a user gets, and does it work for them?
//   1. packs the addon built here into prebuilds/ (npm run prebuildify) and the package (npm pack),
//   2. checks the tarball's file list, then publint and @arethetypeswrong/cli on it,
//   3. installs the tarball into an empty project, as a user would (its install script allowed),
//      and checks there: the install used the prebuilt addon (no compilation) and linked the LibTorch of
//      this machine; require('kds'); import { KDS } from 'kds' (same exports as require); TypeScript
//      types (tsc, node16 resolution, ESM and CommonJS); `npx kds info`; one FAKD training step.
// Needs the addon and dist/ built (npm install) and the npm registry for kds's dependencies.
// --no-prebuildify packs prebuilds/ as it is. The temporary project is removed unless the check fails or
// KDS_KEEP_PACK=1.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const started = Date.now();
const results = [];

class CheckFailed extends Error {}

function fail(message) {
  throw new CheckFailed(message);
}

/** Runs a command; returns its output; fails the check (showing the output) when it exits non-zero. */
function run(what, cmd, args, options = {}) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options, env: { ...process.env, ...options.env } });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.error || r.status !== 0) {
    console.error(out);
    fail(`${what}: \`${cmd} ${args.join(' ')}\` ${r.error ? r.error.message : `exited with ${r.status}`}`);
  }
  results.push(`ok   ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  console.log(results[results.length - 1]);
  return options.stdoutOnly ? r.stdout : out;
}

function check(what, ok, detail = '') {
  if (!ok) fail(`${what}${detail ? `: ${detail}` : ''}`);
  results.push(`ok   ${what}`);
  console.log(results[results.length - 1]);
}

function packOwnBuild() {
  const built = path.join(root, 'build', 'Release', 'kds.node');
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const prebuiltFiles = () => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.node')) : []);
  if (process.argv.includes('--no-prebuildify')) {
    check(`prebuilds/${process.platform}-${process.arch} holds the addon (as it is)`, prebuiltFiles().length === 1);
    return;
  }
  if (!fs.existsSync(built)) fail('build the package first (npm install, or npm run build)');
  run('npm run prebuildify (the addon built here, into prebuilds/)', 'npm', ['run', '--silent', 'prebuildify']);
  const prebuilt = prebuiltFiles();
  check(`prebuilds/${process.platform}-${process.arch} holds the addon`, prebuilt.length === 1, prebuilt.join(', '));
  // prebuildify moves build/Release/kds.node; put it back so the checkout keeps working as before.
  if (!fs.existsSync(built)) fs.copyFileSync(path.join(dir, prebuilt[0]), built);
}

function packTarball(work) {
  const info = JSON.parse(run('npm pack', 'npm', ['pack', '--json', '--pack-destination', work], { stdoutOnly: true }))[0];
  const files = info.files.map((f) => f.path);
  const tarball = path.join(work, info.filename);
  const has = (p) => files.includes(p);
  const missing = ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/index.js', 'dist/index.d.ts', 'bin/kds.js',
    'scripts/install.js', 'scripts/libtorch.js', 'CMakeLists.txt', 'docs/cli.md', 'docs/distributed.md', 'examples/demo.js',
    'assets/teacher-edsr-x2.pt'].filter((p) => !has(p));
  check('the tarball has the runtime, sources, docs and examples', missing.length === 0, `missing ${missing.join(', ')}`);
  check('the tarball has the prebuilt addon', files.some((f) => /^prebuilds\/linux-x64\/.*\.node$/.test(f)));
  const unwanted = files.filter((f) => /^(test|bench|build|scripts\/robustness|\.torch|\.libtorch|\.cache|docs\/api)\//.test(f) || /\.(o|tgz)$/.test(f));
  check('the tarball has no tests, build folders or artefacts', unwanted.length === 0, unwanted.slice(0, 5).join(', '));
  console.log(`     ${info.filename}: ${files.length} files, ${(info.size / 1e6).toFixed(1)} MB packed, ${(info.unpackedSize / 1e6).toFixed(1)} MB unpacked`);
  return tarball;
}

function lint(tarball) {
  const pub = run('publint (strict)', bin('publint'), ['run', tarball, '--strict']);
  process.stdout.write(pub.split('\n').map((l) => `     ${l}`).join('\n').trimEnd() + '\n');
  const attw = run('@arethetypeswrong/cli', bin('attw'), [tarball, '--no-definitely-typed', '--format', 'table-flipped', '--no-color', '--no-emoji']);
  process.stdout.write(attw.split('\n').map((l) => `     ${l}`).join('\n').trimEnd() + '\n');
}

const CONSUMER_CJS = `'use strict';
const assert = require('node:assert/strict');
const kds = require('kds');
assert.equal(typeof kds.KDS, 'function');
assert.equal(typeof kds.models.edsr, 'function');
console.log(JSON.stringify(Object.keys(kds).sort()));
`;

const CONSUMER_ESM = `import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as ns from 'kds';
import { KDS, models, info } from 'kds';
assert.equal(typeof KDS, 'function');
assert.equal(typeof models.edsr, 'function');
assert.equal(typeof info, 'function');
const cjs = Object.keys(createRequire(import.meta.url)('kds')).filter((k) => k !== '__esModule').sort();
const esm = Object.keys(ns).filter((k) => k !== 'default' && k !== '__esModule').sort();
assert.deepEqual(esm, cjs, 'import and require give the same exports');
console.log(esm.length + ' exports');
`;

// One FAKD step (DS + TS + SA) with a small teacher and student on random data: finite losses, a student
// saved to disk.
const CONSUMER_STEP = `import assert from 'node:assert/strict';
import fs from 'node:fs';
import { KDS, models, manualSeed, setNumThreads } from 'kds';
setNumThreads(1);
manualSeed(0);
const kds = new KDS();
kds.setTeacher(models.edsr({ scale: 2, nResblocks: 2, nFeats: 16 }));
kds.setStudent(models.edsr({ scale: 2, nResblocks: 1, nFeats: 8 }));
kds.setLoss({ SA: true });
const lr = { data: Float32Array.from({ length: 2 * 3 * 12 * 12 }, (_, i) => (i * 37) % 256), shape: [2, 3, 12, 12] };
const hr = { data: Float32Array.from({ length: 2 * 3 * 24 * 24 }, (_, i) => (i * 53) % 256), shape: [2, 3, 24, 24] };
const r = await kds.train(lr, hr);
for (const k of ['total', 'DS', 'TS', 'SA']) assert.ok(Number.isFinite(r[k]) && r[k] > 0, k + ' = ' + r[k]);
await kds.saveStudentModel('student.pt');
assert.ok(fs.statSync('student.pt').size > 1000);
console.log('one step: total ' + r.total.toFixed(4) + ' (DS ' + r.DS.toFixed(4) + ', TS ' + r.TS.toFixed(4) + ', SA ' + r.SA.toExponential(3) + ')');
`;

const CONSUMER_TS_ESM = `import { KDS, models, info, type StepLosses, type Info } from 'kds';
const kds: KDS = new KDS();
kds.setStudent(models.edsr({ scale: 2, nResblocks: 1, nFeats: 8 }));
export async function step(lr: { data: Float32Array; shape: number[] }, hr: { data: Float32Array; shape: number[] }): Promise<number> {
  const r: StepLosses = await kds.train(lr, hr);
  return r.total;
}
export const built: Info = info();
// @ts-expect-error: the types know the options (a wrong type must not compile)
models.edsr({ scale: 'two' });
`;

const CONSUMER_TS_CJS = `import kds = require('kds');
export const make = (): kds.KDS => new kds.KDS();
`;

function consumer(work, tarball) {
  const dir = path.join(work, 'consumer');
  fs.mkdirSync(dir);
  // npm >= 11.19 runs a dependency's install script only when the project allows it: allowScripts, with
  // the key `npm install-scripts approve kds` writes for a tarball. --foreground-scripts shows its output.
  fs.writeFileSync(path.join(dir, 'package.json'),
    JSON.stringify({ name: 'kds-consumer', version: '1.0.0', private: true, allowScripts: { [`file:${tarball}`]: true } }, null, 2));
  const install = run('npm install ./kds-*.tgz into an empty project', 'npm',
    ['install', '--no-audit', '--no-fund', '--foreground-scripts', tarball], { cwd: dir });
  console.log(install.split('\n').filter((l) => /^kds:/.test(l)).map((l) => `     ${l}`).join('\n'));
  const pkg = path.join(dir, 'node_modules', 'kds');
  check('the install used the prebuilt addon (nothing compiled)',
    /using the prebuilt addon/.test(install) && !fs.existsSync(path.join(pkg, 'build')), install.trim().split('\n').slice(-8).join('\n'));
  let linked = null;
  try {
    linked = fs.realpathSync(path.join(pkg, '.torch'));
  } catch {
    // checked below
  }
  check('the install linked node_modules/kds/.torch to this machine\'s LibTorch', linked !== null);
  console.log(`     .torch -> ${linked}`);

  fs.writeFileSync(path.join(dir, 'check.cjs'), CONSUMER_CJS);
  fs.writeFileSync(path.join(dir, 'check.mjs'), CONSUMER_ESM);
  fs.writeFileSync(path.join(dir, 'step.mjs'), CONSUMER_STEP);
  run("require('kds')", process.execPath, ['check.cjs'], { cwd: dir });
  console.log(`     ${run("import { KDS } from 'kds'", process.execPath, ['check.mjs'], { cwd: dir }).trim()}`);

  fs.writeFileSync(path.join(dir, 'check.mts'), CONSUMER_TS_ESM);
  fs.writeFileSync(path.join(dir, 'check.cts'), CONSUMER_TS_CJS);
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      module: 'node16', moduleResolution: 'node16', target: 'ES2022', strict: true, noEmit: true,
      types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')],
    },
    files: ['check.mts', 'check.cts'],
  }, null, 2));
  run('TypeScript types resolve (tsc, node16, ESM and CommonJS consumers)', process.execPath,
    [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: dir });

  const report = JSON.parse(run('npx kds info', 'npx', ['--no-install', 'kds', 'info', '--json'], { cwd: dir, stdoutOnly: true }));
  console.log(`     kds ${report.kds} LibTorch ${report.torch} at ${report.libtorch}`);
  check('the addon runs with the LibTorch the install linked', fs.realpathSync(report.libtorch) === linked, `${report.libtorch} is not ${linked}`);
  console.log(`     ${run('one FAKD training step in the project', process.execPath, ['step.mjs'], { cwd: dir, env: { KDS_NUM_THREADS: '1' } }).trim()}`);
}

function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-pack-'));
  try {
    packOwnBuild();
    const tarball = packTarball(work);
    lint(tarball);
    consumer(work, tarball);
  } catch (err) {
    if (!(err instanceof CheckFailed)) throw err;
    console.error(`\ncheck:pack FAILED: ${err.message}\n(the packed project is kept in ${work})`);
    process.exit(1);
  }
  if (process.env.KDS_KEEP_PACK) console.log(`kept ${work}`);
  else fs.rmSync(work, { recursive: true, force: true });
  console.log(`\ncheck:pack passed: ${results.length} checks in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main();
