// Deterministic input mutations for the fuzzer: attempt i of a run with seed s always produces the same
// bytes, so a crash found by scripts/fuzz.js can be regenerated and kept as a test case.
import zlib from 'node:zlib';

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe, 0x40, 0x20];

/** The stored (uncompressed) entries of a zip archive: where their data lies and where their CRCs are kept. */
export function zipEntries(buf) {
  const entries = [];
  let eocd = -1;
  for (let p = buf.length - 22; p >= Math.max(0, buf.length - 22 - 65535); p--)
    if (buf.readUInt32LE(p) === 0x06054b50) {
      eocd = p;
      break;
    }
  if (eocd < 0) return entries;
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  for (let i = 0; i < count && p + 46 <= buf.length; i++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) break;
    const method = buf.readUInt16LE(p + 10), size = buf.readUInt32LE(p + 20);
    const nameLength = buf.readUInt16LE(p + 28), extraLength = buf.readUInt16LE(p + 30), commentLength = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLength).toString('latin1');
    if (local + 30 <= buf.length && buf.readUInt32LE(local) === 0x04034b50) {
      const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
      if (method === 0 && start + size <= buf.length) entries.push({ name, start, size, centralCrc: p + 16, localCrc: local + 14 });
    }
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** Rewrites the CRCs of the stored entries so that a mutated archive passes the integrity check. */
export function fixZipCrcs(buf) {
  for (const e of zipEntries(buf)) {
    const crc = zlib.crc32(buf.subarray(e.start, e.start + e.size)) >>> 0;
    buf.writeUInt32LE(crc, e.centralCrc);
    // PyTorch's writer leaves the local header's CRC 0 (it follows the data); keep it so.
    if (buf.readUInt32LE(e.localCrc) !== 0) buf.writeUInt32LE(crc, e.localCrc);
  }
  return buf;
}

function int(r, n) {
  return Math.floor(r() * n);
}

function pick(r, list) {
  return list[int(r, list.length)];
}

function pokeBytes(r, buf, from, to, edits) {
  for (let k = 0; k < edits && to > from; k++) {
    const at = from + int(r, to - from);
    if (r() < 0.5) buf[at] ^= 1 << int(r, 8);
    else buf[at] = r() < 0.5 ? pick(r, INTERESTING) : int(r, 256);
  }
}

/** The mutations, each (r, seed, seeds) -> Buffer. */
export const MUTATIONS = {
  random(r) {
    const buf = Buffer.alloc(int(r, 2048));
    for (let i = 0; i < buf.length; i++) buf[i] = int(r, 256);
    // Give some of them the magic bytes so that they get past the first check.
    const prefixes = [Buffer.from('PK\x03\x04', 'latin1'), Buffer.from([0x80, 0x02, 0x8a, 0x0a]), Buffer.from([0x89, 0x50, 0x4e, 0x47]), Buffer.from([0xff, 0xd8, 0xff])];
    if (buf.length >= 4 && r() < 0.6) pick(r, prefixes).copy(buf, 0);
    return buf;
  },
  bitFlips(r, seed) {
    const buf = Buffer.from(seed);
    for (let k = 1 + int(r, 8); k > 0; k--) buf[int(r, buf.length)] ^= 1 << int(r, 8);
    return buf;
  },
  overwrite(r, seed) {
    const buf = Buffer.from(seed);
    pokeBytes(r, buf, 0, buf.length, 1 + int(r, 16));
    return buf;
  },
  truncate(r, seed) {
    return Buffer.from(seed.subarray(0, int(r, seed.length)));
  },
  splice(r, seed, seeds) {
    const other = pick(r, seeds);
    return Buffer.concat([seed.subarray(0, int(r, seed.length + 1)), other.subarray(int(r, other.length + 1))]);
  },
  // Mutates inside one stored zip entry (the pickle, a tensor's bytes, TorchScript code) and fixes the CRCs,
  // so the damage reaches the parsers behind the integrity check. Not a zip: plain overwrites.
  zipContent(r, seed) {
    const buf = Buffer.from(seed);
    const entries = zipEntries(buf).filter((e) => e.size > 0);
    if (entries.length === 0) {
      pokeBytes(r, buf, 0, buf.length, 1 + int(r, 8));
      return buf;
    }
    // Favour the pickles and code: that is where the parsers are.
    const interesting = entries.filter((e) => /\.pkl$|code\/|constants|version|byteorder/.test(e.name));
    const e = interesting.length > 0 && r() < 0.8 ? pick(r, interesting) : pick(r, entries);
    pokeBytes(r, buf, e.start, e.start + e.size, 1 + int(r, 6));
    return fixZipCrcs(buf);
  },
};

const NAMES = Object.keys(MUTATIONS);

/** Attempt `index` of run `runSeed`: a mutation name and its bytes. */
export function mutate(runSeed, index, seeds) {
  const r = rng((runSeed * 0x9e3779b1 + index * 0x85ebca6b) >>> 0);
  const name = NAMES[int(r, NAMES.length)];
  const seed = pick(r, seeds);
  return { name, bytes: MUTATIONS[name](r, seed, seeds) };
}
