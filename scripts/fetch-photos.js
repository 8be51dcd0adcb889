#!/usr/bin/env node
'use strict';
// Fetches real photographs from Debian packages into a git-ignored cache (default .cache/photos/) and
// records where each came from and under which licence. Nothing here is committed to the repository.
//
//   node scripts/fetch-photos.js [--dir DIR] [--force]
//
// Packages are downloaded with `apt-get download` and unpacked with `dpkg-deb -x` (no root needed).
// Splits: train (larger photographs, like DIV2K), eval (held out, Set14-sized), gray (a grayscale photo
// for the conversion tests). Each image's licence is read from the package at fetch time: the Debian
// copyright file (DEP-5), the upstream per-image metadata, or a statement that must appear verbatim in
// the package; an image whose licence cannot be confirmed that way is an error, never silently kept.
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const FORMAT = 1;
const DEFAULT_DIR = process.env.KDS_PHOTOS_DIR || path.resolve(__dirname, '..', '.cache', 'photos');

const MATE = 'usr/share/backgrounds/mate/nature';
const PALAPELI = 'usr/share/palapeli/collection';
const SKIMAGE = 'usr/lib/python3/dist-packages/skimage/data';
const SKIMAGE_NOTES = `${SKIMAGE}/_fetchers.py`;

// license: 'dep5' (the package's copyright file, by upstream path), 'desktop' (palapeli's per-puzzle
// .desktop metadata) or 'statement' (the quoted text must be in `statementFile`).
const SOURCES = [
  {
    package: 'mate-backgrounds',
    split: 'train',
    license: 'dep5',
    files: ['Aqua', 'Blinds', 'Dune', 'FreshFlower', 'Garden', 'GreenMeadow', 'LadyBird', 'RainDrops', 'Storm', 'TwoWings', 'Wood', 'YellowFlower']
      .map((n) => ({ path: `${MATE}/${n}.jpg`, upstream: `nature/${n}.jpg`, name: `mate-${n}.jpg` })),
  },
  {
    package: 'palapeli-data',
    split: 'train',
    license: 'desktop',
    files: ['castle-maintenon', 'cincinnati-bridge', 'citrus-fruits', 'european-honey-bee', 'panther-chameleon-female']
      .map((n) => ({ path: `${PALAPELI}/${n}.jpg`, desktop: `${PALAPELI}/${n}.desktop`, name: `palapeli-${n}.jpg` })),
  },
  {
    package: 'python3-skimage',
    split: 'eval',
    license: 'statement',
    files: [
      { path: `${SKIMAGE}/astronaut.png`, name: 'skimage-astronaut.png', author: 'NASA (Eileen Collins, STS-63)', statement: 'No known copyright restrictions, released into the public domain.', licenseName: 'public domain' },
      { path: `${SKIMAGE}/chelsea.png`, name: 'skimage-chelsea.png', author: 'Stefan van der Walt', statement: 'No copyright restrictions.  CC0 by the photographer (Stefan van der Walt).', licenseName: 'CC0-1.0' },
      { path: `${SKIMAGE}/coffee.png`, name: 'skimage-coffee.png', author: 'Rachel Michetti', statement: 'No copyright restrictions.  CC0 by the photographer (Rachel Michetti).', licenseName: 'CC0-1.0' },
      { path: `${SKIMAGE}/rocket.jpg`, name: 'skimage-rocket.jpg', author: 'SpaceX', statement: 'The image was captured by SpaceX and `released in the public domain', licenseName: 'public domain' },
    ],
  },
  {
    package: 'python3-skimage',
    split: 'gray',
    license: 'statement',
    files: [
      { path: `${SKIMAGE}/camera.png`, name: 'skimage-camera.png', author: 'Lav Varshney', statement: 'No copyright restrictions. CC0 by the photographer (Lav Varshney).', licenseName: 'CC0-1.0' },
    ],
  },
];

function run(command, args, options = {}) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10 * 60 * 1000, ...options });
  } catch (err) {
    const detail = `${err.stderr || ''}${err.stdout || ''}`.trim() || err.message;
    const e = new Error(`'${command} ${args.join(' ')}' failed: ${detail}`);
    e.detail = detail;
    throw e;
  }
}

// apt-get download into `dir`; refreshes the package lists once (as root) when they do not know the package.
function download(pkg, dir, log) {
  const attempt = () => run('apt-get', ['download', pkg], { cwd: dir });
  try {
    attempt();
  } catch (err) {
    const stale = /Unable to locate package|has no installation candidate|404\s+Not Found/i.test(err.detail || '');
    if (!stale) throw err;
    if (typeof process.getuid !== 'function' || process.getuid() !== 0)
      throw new Error(`${err.message}\nThe apt package lists do not know '${pkg}': run 'sudo apt-get update' and try again.`, { cause: err });
    log(`fetch-photos: apt does not know ${pkg}; running apt-get update`);
    run('apt-get', ['update']);
    attempt();
  }
  const deb = fs.readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${pkg} finished but left no .deb in ${dir}`);
  return path.join(dir, deb);
}

// Debian copyright files in the machine-readable format: stanzas of "Field: value" with indented
// continuation lines. For a path, the last Files stanza whose pattern matches wins.
function parseDep5(text) {
  return text.split(/\n\s*\n/).map((block) => {
    const fields = {};
    let key = null;
    for (const line of block.split('\n')) {
      const m = /^([A-Za-z-]+):\s?(.*)$/.exec(line);
      if (m) {
        key = m[1];
        fields[key] = m[2];
      } else if (key && /^\s/.test(line)) {
        fields[key] += `\n${line.trim()}`;
      }
    }
    return fields;
  });
}

function globToRegExp(glob) {
  return new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

function dep5License(stanzas, upstreamPath) {
  let found = null;
  for (const s of stanzas) {
    if (!s.Files) continue;
    if (s.Files.split(/\s+/).some((g) => g && globToRegExp(g).test(upstreamPath))) found = s;
  }
  if (!found || !found.License) return null;
  return { license: found.License.split('\n')[0].trim(), copyright: (found.Copyright || '').replace(/\n/g, '; ').trim() };
}

function desktopFields(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9-]+)=(.*)$/.exec(line.trim());
    if (m && !(m[1] in out)) out[m[1]] = m[2].trim();
  }
  return out;
}

const normalise = (s) => s.replace(/\s+/g, ' ').trim();

function licenseOf(source, file, root, copyrightRel) {
  const copyright = fs.readFileSync(path.join(root, copyrightRel), 'utf8');
  const stanzas = parseDep5(copyright);
  if (source.license === 'dep5') {
    const l = dep5License(stanzas, file.upstream);
    if (!l) throw new Error(`${source.package}: no licence for ${file.upstream} in ${copyrightRel}`);
    return { license: l.license, copyright: l.copyright, licenseSource: `/${copyrightRel} (Files stanza matching ${file.upstream})` };
  }
  if (source.license === 'desktop') {
    const d = desktopFields(fs.readFileSync(path.join(root, file.desktop), 'utf8'));
    const license = d['X-KDE-PluginInfo-License'];
    if (!license || !d['X-KDE-PluginInfo-Author']) throw new Error(`${source.package}: ${file.desktop} names no author or licence`);
    const packageWide = dep5License(stanzas, 'collection/x.jpg');
    return {
      license,
      copyright: d['X-KDE-PluginInfo-Author'],
      title: d.Name,
      origin: d['X-KDE-PluginInfo-Website'] || undefined,
      licenseSource: `/${file.desktop} (X-KDE-PluginInfo-License); the package's /${copyrightRel} covers all files as ${packageWide ? packageWide.license : 'unknown'}`,
    };
  }
  const notes = normalise(fs.readFileSync(path.join(root, SKIMAGE_NOTES), 'utf8'));
  if (!notes.includes(normalise(file.statement)))
    throw new Error(`${source.package}: the licence statement for ${path.basename(file.path)} is no longer in /${SKIMAGE_NOTES}; check it before using the image`);
  return {
    license: file.licenseName,
    copyright: file.author,
    licenseSource: `/${SKIMAGE_NOTES} (docstring: "${normalise(file.statement)}"); the package's /${copyrightRel} covers the code as ${(dep5License(stanzas, 'skimage/data/x.png') || {}).license}`,
  };
}

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function readManifest(dir) {
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    if (manifest.format !== FORMAT) return null;
    for (const image of manifest.images) {
      const stat = fs.statSync(path.join(dir, image.file), { throwIfNoEntry: false });
      if (!stat || stat.size !== image.bytes) return null;
    }
    return manifest;
  } catch {
    return null;
  }
}

/**
 * Returns { dir, manifest, files(split) } for the cached photographs, fetching them first when the cache
 * is missing or incomplete (or `force`). Throws when the packages cannot be fetched.
 */
function fetchPhotos({ dir = DEFAULT_DIR, force = false, log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  let manifest = force ? null : readManifest(dir);
  if (!manifest) {
    const staging = `${dir}.partial-${process.pid}`;
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(path.join(staging, 'licenses'), { recursive: true });
    const work = path.join(staging, '.work');
    const images = [];
    const packages = {};
    try {
      for (const source of SOURCES) {
        const root = path.join(work, source.package);
        if (!packages[source.package]) {
          log(`fetch-photos: downloading ${source.package}`);
          fs.mkdirSync(root, { recursive: true });
          const deb = download(source.package, root, log);
          const version = run('dpkg-deb', ['-f', deb, 'Version']).trim();
          run('dpkg-deb', ['-x', deb, root]);
          const copyrightRel = `usr/share/doc/${source.package}/copyright`;
          fs.copyFileSync(path.join(root, copyrightRel), path.join(staging, 'licenses', `${source.package}.copyright`));
          packages[source.package] = { version, deb: path.basename(deb), copyrightRel };
        }
        const { version, copyrightRel } = packages[source.package];
        fs.mkdirSync(path.join(staging, source.split), { recursive: true });
        for (const file of source.files) {
          const from = path.join(root, file.path);
          if (!fs.existsSync(from)) throw new Error(`${source.package} ${version} has no /${file.path}`);
          const rel = `${source.split}/${file.name}`;
          fs.copyFileSync(from, path.join(staging, rel));
          images.push({
            file: rel,
            split: source.split,
            bytes: fs.statSync(from).size,
            sha256: sha256(from),
            package: source.package,
            packageVersion: version,
            packagePath: `/${file.path}`,
            ...licenseOf(source, file, root, copyrightRel),
            licenseFile: `licenses/${source.package}.copyright`,
          });
        }
      }
      fs.rmSync(work, { recursive: true, force: true });
      manifest = {
        format: FORMAT,
        note: 'Fetched by scripts/fetch-photos.js from Debian packages; see each image\'s license and licenses/. Not part of the kds repository.',
        packages,
        images,
      };
      fs.writeFileSync(path.join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(dir), { recursive: true });
      fs.renameSync(staging, dir);
    } catch (err) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw new Error(`fetch-photos: could not fetch the photographs: ${err.message}`, { cause: err });
    }
    log(`fetch-photos: ${images.length} photographs in ${dir}`);
  }
  return {
    dir,
    manifest,
    files: (split) => manifest.images.filter((i) => i.split === split).map((i) => path.join(dir, i.file)),
  };
}

module.exports = { fetchPhotos, DEFAULT_DIR };

if (require.main === module) {
  const args = process.argv.slice(2);
  const dirIndex = args.indexOf('--dir');
  try {
    const { dir, manifest } = fetchPhotos({ dir: dirIndex >= 0 ? path.resolve(args[dirIndex + 1]) : DEFAULT_DIR, force: args.includes('--force') });
    const counts = {};
    for (const image of manifest.images) counts[image.split] = (counts[image.split] || 0) + 1;
    console.log(`${dir}: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}`);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
