'use strict';
// npm run test:sanitize: builds the addon with AddressSanitizer and UndefinedBehaviorSanitizer into
// build-sanitize/ (CMake option KDS_SANITIZE; kds's own code only) and runs the test files that exercise the
// native code against it. docs/robustness.md says what is checked, how, and what it found.
//
// usage: node scripts/test-sanitize.js [--no-build] [--all | test/x.test.mjs ...]
//   --no-build  reuse build-sanitize/ as it is;  --all  every test file instead of the default set
//
// node and LibTorch are not instrumented, so the sanitizer runtime must be the first library in the process:
// LD_PRELOAD of the compiler's libasan (node's child processes inherit it; the Python references drop it,
// see test/helpers/python.mjs). The tests load the sanitized addon through KDS_ADDON_PATH.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const buildDir = path.join(root, 'build-sanitize');
const addon = path.join(buildDir, 'Release', 'kds.node');

// Every file whose tests drive the addon, less four whose subject is not memory safety and that
// instrumentation would break or only slow down: memory (RSS limits; ASan's shadow memory and quarantine
// change RSS by design), fuzz (per-attempt hang timeouts), crash-safety (kills processes on purpose) and
// distributed (several processes with Gloo over TCP, minutes). --all runs them too.
const DEFAULT_FILES = [
  'async', 'atomic-file', 'bad-input', 'bad-input-table', 'checkpoint', 'cli', 'concurrency', 'data', 'edsr',
  'fit', 'losses', 'metrics', 'models', 'numerical-faults', 'precision', 'sa-loss', 'step-timings',
  'torchscript-training',
].map((name) => `test/${name}.test.mjs`);

// ASan's defaults otherwise: the first error aborts the process with a report, which fails the test that
// caused it; LeakSanitizer reports at exit, less two known allocations outside kds (lsan-suppressions.txt says
// which and why; print_suppressions=0 keeps its tally of them out of stderr, which the CLI tests read).
// UBSan reports and goes on by default; halt_on_error makes a report fail the test too.
const SANITIZER_ENV = {
  ASAN_OPTIONS: 'detect_leaks=1:halt_on_error=1',
  LSAN_OPTIONS: `suppressions=${path.join(__dirname, 'lsan-suppressions.txt')}:print_suppressions=0`,
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
};

function main() {
  const args = process.argv.slice(2);
  if (!args.includes('--no-build')) build();
  if (!fs.existsSync(addon)) fail(`no sanitized addon at ${addon}: run without --no-build first`);
  run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], process.env);
  const files = args.includes('--all') ? allTestFiles() : args.filter((a) => !a.startsWith('--'));
  const env = { ...process.env, ...SANITIZER_ENV, LD_PRELOAD: runtimeLibraries().join(':'), KDS_ADDON_PATH: addon };
  console.error(`kds: sanitized run: LD_PRELOAD=${env.LD_PRELOAD}`);
  run(process.execPath, ['--test', '--test-concurrency=1', ...(files.length ? files : DEFAULT_FILES)], env);
}

function build() {
  const cmakeArgs = [process.env.KDS_CMAKE_ARGS, '-DKDS_SANITIZE=ON'].filter(Boolean).join(' ');
  run(process.execPath, [path.join(__dirname, 'build-native.js')], { ...process.env, KDS_BUILD_DIR: buildDir, KDS_CMAKE_ARGS: cmakeArgs });
}

// The runtimes of the compiler that built the addon (its CMake cache names it): libasan must come first;
// libubsan is preloaded too so that both are resolved once, before node's own libraries.
function runtimeLibraries() {
  const cache = fs.readFileSync(path.join(buildDir, 'CMakeCache.txt'), 'utf8');
  const compiler = /^CMAKE_CXX_COMPILER:[A-Z]+=(.+)$/m.exec(cache)?.[1] ?? 'c++';
  return ['libasan.so', 'libubsan.so'].map((name) => {
    const file = execFileSync(compiler, [`-print-file-name=${name}`], { encoding: 'utf8' }).trim();
    if (!path.isAbsolute(file)) fail(`${compiler} does not know where ${name} is (it printed '${file}')`);
    return fs.realpathSync(file);
  });
}

function allTestFiles() {
  return fs.readdirSync(path.join(root, 'test')).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => `test/${f}`);
}

function run(command, args, env) {
  const result = spawnSync(command, args, { cwd: root, env, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

function fail(message) {
  console.error(`kds: ${message}`);
  process.exit(1);
}

main();
