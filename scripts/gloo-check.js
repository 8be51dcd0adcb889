'use strict';
// Do the gloo headers (Debian's libgloo-dev, a 2022 snapshot) fit the Gloo compiled into LibTorch?
// LibTorch ships c10d's ProcessGroupGloo.hpp but not gloo's headers, and its Gloo is newer. Before the
// distributed build, a probe compiles what native/dist/gloo_group.cc uses of ProcessGroupGloo.hpp with
// these headers, and every gloo or ProcessGroupGloo symbol the probe needs must be exported by LibTorch's
// libraries under the same (mangled) name: a changed signature or a missing function fails here, with a
// message, instead of as an undefined symbol when the addon loads. The verdict is cached per LibTorch and
// header folder (the probe costs one compile of c10d's headers, about 30 s).
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const cacheDir = path.join(root, '.cache', 'gloo');

// The calls native/dist/gloo_group.cc makes (keep the two in step): what kds links against.
const PROBE = `// written by scripts/gloo-check.js
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

c10::intrusive_ptr<c10d::Backend> kdsGlooProbe(const c10::intrusive_ptr<c10d::Store>& store, std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface("lo"));
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  return c10::intrusive_ptr<c10d::Backend>(c10::make_intrusive<c10d::ProcessGroupGloo>(store, 0, 1, options));
}
`;

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.error) return { ok: false, out: `${cmd}: ${r.error.message}` };
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

function stamp(file) {
  try {
    return String(fs.statSync(file).mtimeMs);
  } catch {
    return 'missing';
  }
}

/** Symbols (mangled) defined and exported by LibTorch's shared libraries. */
function exportedSymbols(libDir) {
  const names = new Set();
  for (const lib of ['libtorch_cpu.so', 'libtorch.so', 'libc10.so']) {
    const file = path.join(libDir, lib);
    if (!fs.existsSync(file)) continue;
    const r = run('nm', ['-D', '--defined-only', file]);
    if (!r.ok) throw new Error(`nm -D ${file} failed: ${r.out.trim().split('\n').pop()}`);
    for (const line of r.out.split('\n')) {
      const name = line.trim().split(/\s+/)[2];
      if (name) names.add(name.split('@')[0]);
    }
  }
  return names;
}

function demangle(names) {
  const r = spawnSync('c++filt', { input: names.join('\n'), encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split('\n') : names;
}

/**
 * Returns { ok: true, note } when the gloo headers in includeDir fit this LibTorch, else { ok: false,
 * reason }. torch is scripts/libtorch.js's result.
 */
function checkGlooHeaders(torch, includeDir) {
  const cxx = process.env.CXX || 'c++';
  const key = crypto.createHash('sha256')
    .update([fs.realpathSync(torch.root), stamp(path.join(torch.libDir, 'libtorch_cpu.so')), fs.realpathSync(includeDir),
      stamp(path.join(includeDir, 'gloo', 'rendezvous', 'store.h')), stamp(path.join(includeDir, 'gloo', 'context.h')), cxx, PROBE].join('\n'))
    .digest('hex').slice(0, 16);
  const verdictFile = path.join(cacheDir, `check-${key}.json`);
  try {
    return JSON.parse(fs.readFileSync(verdictFile, 'utf8'));
  } catch {
    // not checked yet
  }
  const verdict = probe(torch, includeDir, cxx);
  fs.mkdirSync(cacheDir, { recursive: true });
  fs.writeFileSync(verdictFile, JSON.stringify(verdict));
  return verdict;
}

function probe(torch, includeDir, cxx) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-gloo-check-'));
  try {
    const src = path.join(dir, 'probe.cc');
    const obj = path.join(dir, 'probe.o');
    fs.writeFileSync(src, PROBE);
    const include = path.join(torch.root, 'include');
    const compiled = run(cxx, ['-std=c++20', '-O0', '-c', '-fPIC', '-w', '-D_GLIBCXX_USE_CXX11_ABI=1', '-DUSE_C10D_GLOO', '-DUSE_DISTRIBUTED',
      '-isystem', include, '-isystem', path.join(include, 'torch', 'csrc', 'api', 'include'), '-isystem', includeDir, src, '-o', obj]);
    if (!compiled.ok) {
      const first = compiled.out.split('\n').find((l) => /error/.test(l)) ?? compiled.out.trim().split('\n').pop();
      return { ok: false, reason: `LibTorch's ProcessGroupGloo.hpp does not compile with the gloo headers in ${includeDir}: ${first.trim()}` };
    }
    const undefinedSyms = run('nm', ['-u', obj]);
    if (!undefinedSyms.ok) return { ok: false, reason: `nm -u on the probe failed: ${undefinedSyms.out.trim()}` };
    const needed = undefinedSyms.out.split('\n').map((l) => l.trim().split(/\s+/).pop()).filter((s) => s && /gloo|ProcessGroupGloo/i.test(s));
    const exported = exportedSymbols(torch.libDir);
    const missing = needed.filter((s) => !exported.has(s));
    if (missing.length) {
      const shown = demangle(missing.slice(0, 3)).join('; ');
      return { ok: false, reason: `the gloo headers in ${includeDir} do not match the Gloo inside LibTorch: ${missing.length} of the ${needed.length} gloo symbols the distributed code needs are not in LibTorch (${shown})` };
    }
    // A known difference that does not touch kds: LibTorch's newer Gloo has the store v2 methods; kds
    // never calls gloo's store (LibTorch builds and uses its GlooStore inside libtorch_cpu.so).
    const v2InTorch = [...exported].some((s) => s.includes('has_v2_support'));
    const v2InHeaders = fs.readFileSync(path.join(includeDir, 'gloo', 'rendezvous', 'store.h'), 'utf8').includes('GLOO_STORE_HAS_STORE_V2');
    const note = v2InTorch && !v2InHeaders ? ' (these headers predate the gloo store v2 methods that LibTorch has; kds does not call them)' : '';
    return { ok: true, note: `${needed.length} gloo symbols checked against LibTorch${note}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { checkGlooHeaders };

if (require.main === module) {
  const { findLibTorch } = require('./libtorch');
  const { findGlooHeaders } = require('./gloo-headers');
  const torch = findLibTorch({ install: false });
  const includeDir = process.argv[2] || findGlooHeaders().includeDir;
  if (!includeDir) {
    console.error('no gloo headers found');
    process.exit(1);
  }
  const verdict = checkGlooHeaders(torch, includeDir);
  console.log(verdict.ok ? `gloo headers fit: ${verdict.note}` : `gloo headers do not fit: ${verdict.reason}`);
  process.exit(verdict.ok ? 0 : 1);
}
