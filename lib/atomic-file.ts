// Files that appear complete or not at all: written to a temporary file in the same folder, flushed to
// disk, then renamed over the target (rename is atomic within a file system). The native layer does the
// same for tensors (native/io/atomic_file.cc); this is the JavaScript side for text and images.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

// Makes the rename itself durable. Some file systems refuse fsync on a folder; the data is on disk then
// anyway, so that refusal is not an error.
function syncFolder(folder: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(folder, 'r');
    fs.fsyncSync(fd);
  } catch {
    // best effort, see above
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes `data` to `file` atomically. Throws the file system's error; no temporary file is left behind. */
export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  const temp = tempPathFor(file);
  try {
    const fd = fs.openSync(temp, 'w');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
  syncFolder(path.dirname(file));
}

/** The asynchronous writeFileAtomicSync, for large files written from async code. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const temp = tempPathFor(file);
  try {
    const handle = await fs.promises.open(temp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(temp, file);
  } catch (err) {
    await fs.promises.rm(temp, { force: true });
    throw err;
  }
  syncFolder(path.dirname(file));
}
