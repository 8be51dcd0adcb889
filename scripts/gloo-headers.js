'use strict';
// Gloo's headers for the distributed build. LibTorch's wheel ships c10d's headers and has Gloo compiled
// into libtorch_cpu.so, but not the gloo/ headers that ProcessGroupGloo.hpp includes. Debian's
// libgloo-dev has headers that fit; we only need its include/ folder (never its libgloo.so: linking a
// second Gloo next to LibTorch's would clash). Fetched once into .cache/gloo/ (git-ignored).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const cacheDir = path.join(root, '.cache', 'gloo');
const includeDir = path.join(cacheDir, 'root', 'usr', 'include');

function hasHeaders(dir) {
  return fs.existsSync(path.join(dir, 'gloo', 'algorithm.h')) && fs.existsSync(path.join(dir, 'gloo', 'transport', 'device.h'));
}

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.error) return `${cmd}: ${r.error.message}`;
  if (r.status !== 0) return `${cmd} ${args.join(' ')} exited with ${r.status}: ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`;
  return null;
}

// Returns null when libgloo-dev was downloaded, else what went wrong.
function downloadWithPrivateLists() {
  const apt = path.join(cacheDir, 'apt');
  for (const dir of ['lists/partial', 'cache/archives/partial']) fs.mkdirSync(path.join(apt, dir), { recursive: true });
  const options = ['-q', '-o', `Dir::State::Lists=${path.join(apt, 'lists')}`, '-o', `Dir::Cache=${path.join(apt, 'cache')}`, '-o', 'Debug::NoLocking=1'];
  try {
    return run('apt-get', [...options, 'update'], cacheDir) ?? run('apt-get', [...options, 'download', 'libgloo-dev'], cacheDir);
  } finally {
    fs.rmSync(apt, { recursive: true, force: true });
  }
}

/**
 * Returns { includeDir } when gloo headers are available (KDS_GLOO_INCLUDE, the cache, or a fresh
 * `apt-get download libgloo-dev`), else { reason } saying why not.
 */
function findGlooHeaders() {
  const fromEnv = process.env.KDS_GLOO_INCLUDE;
  if (fromEnv) return hasHeaders(fromEnv) ? { includeDir: fromEnv } : { reason: `KDS_GLOO_INCLUDE=${fromEnv} has no gloo/ headers` };
  if (hasHeaders(includeDir)) return { includeDir };
  if (hasHeaders('/usr/include')) return { includeDir: '/usr/include' };
  fs.mkdirSync(cacheDir, { recursive: true });
  for (const f of fs.readdirSync(cacheDir)) if (f.endsWith('.deb')) fs.rmSync(path.join(cacheDir, f));
  let failed = run('apt-get', ['download', 'libgloo-dev'], cacheDir);
  // Containers often ship without package lists: fetch them into a private folder (no root needed, the
  // system's apt state is not touched), download, and drop the lists again.
  if (failed) {
    const retry = downloadWithPrivateLists();
    failed = retry && `${failed}; with fresh package lists: ${retry}`;
  }
  if (failed) return { reason: failed };
  const deb = fs.readdirSync(cacheDir).find((f) => f.startsWith('libgloo-dev') && f.endsWith('.deb'));
  if (!deb) return { reason: 'apt-get download libgloo-dev produced no .deb file' };
  const unpackFailed = run('dpkg-deb', ['-x', deb, 'root'], cacheDir);
  if (unpackFailed) return { reason: unpackFailed };
  return hasHeaders(includeDir) ? { includeDir } : { reason: `libgloo-dev unpacked, but ${includeDir}/gloo has no headers` };
}

module.exports = { findGlooHeaders };

if (require.main === module) {
  const found = findGlooHeaders();
  console.log(found.includeDir ?? `no gloo headers: ${found.reason}`);
}
