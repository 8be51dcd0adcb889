// The JavaScript side of atomic writes (lib/atomic-file.ts), used for reports, logs, sidecars and images:
// a file is replaced whole or not at all, and a failed write leaves the old file and no temporary file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { writeFileAtomic, writeFileAtomicSync } from '../dist/atomic-file.js';
import { makeTempDir, removeDir } from './helpers/python.mjs';

const dir = makeTempDir('atomic');
after(() => removeDir(dir));
const leftovers = () => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

for (const [name, write] of [['sync', async (f, d) => writeFileAtomicSync(f, d)], ['async', writeFileAtomic]]) {
  test(`${name}: replaces an existing file with the whole new content`, async () => {
    const file = path.join(dir, `${name}.txt`);
    fs.writeFileSync(file, 'old content that is longer than the new one');
    await write(file, 'new');
    assert.equal(fs.readFileSync(file, 'utf8'), 'new');
    await write(file, new Uint8Array([1, 2, 3]));
    assert.deepEqual([...fs.readFileSync(file)], [1, 2, 3]);
    assert.deepEqual(leftovers(), []);
  });

  test(`${name}: a write that cannot complete keeps the old file and leaves no temporary file`, async () => {
    // The target is a non-empty folder: the rename fails after the data was written.
    const target = path.join(dir, `${name}-folder`);
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'inside.txt'), 'kept');
    await assert.rejects(write(target, 'data'), (err) => ['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes(err.code));
    assert.equal(fs.readFileSync(path.join(target, 'inside.txt'), 'utf8'), 'kept');
    await assert.rejects(write(path.join(dir, 'no', 'such', 'folder.txt'), 'data'), { code: 'ENOENT' });
    assert.deepEqual(leftovers(), []);
  });
}
