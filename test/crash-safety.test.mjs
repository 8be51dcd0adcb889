// Crash safety of files: a process SIGKILLed while it saves (model.save, saveStudentModel, saveCheckpoint,
// writeImage) leaves the previous complete file in place, loadable, and its temporary files never take
// the real file's name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KDS, models, readImage } from '../dist/index.js';

const saveLoop = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'scripts', 'robustness', 'save-loop.mjs');
const FILES = ['model.pt', 'student.pt', 'checkpoint.pt', 'image.png'];

// Starts the save loop and SIGKILLs it `delayMs` after it begins saving `name` in round `round` (round 1 or
// later, so that a complete previous file exists).
function killWhileSaving(dir, name, round, delayMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [saveLoop, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '', pending = '', fired = false;
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop();
      if (!fired && lines.includes(`begin ${name} ${round}`)) {
        fired = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.on('close', (code, signal) => {
      if (signal === 'SIGKILL' && fired) resolve();
      else reject(new Error(`the save loop ended with ${signal ?? code} before the kill: ${stderr}`));
    });
  });
}

test('SIGKILL during saves leaves every previous file intact and loadable', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-crash-'));
  const architecture = { scale: 2, nResblocks: 8, nFeats: 48 };
  let leftovers = 0;
  // Each kind of save killed right after it began (most kills land inside the write) and a little later.
  for (const [name, round, delayMs] of FILES.flatMap((name, i) => [[name, 1, 0], [name, 1 + (i % 2), 3]])) {
    await killWhileSaving(dir, name, round, delayMs);
    for (const name of FILES) assert.ok(fs.existsSync(path.join(dir, name)), `${name} is missing after a kill`);
    const model = models.edsr(architecture);
    await model.loadStateDict(path.join(dir, 'model.pt'));
    await model.loadStateDict(path.join(dir, 'student.pt'));
    const kds = new KDS().setStudent(model);
    const extra = await kds.loadCheckpoint(path.join(dir, 'checkpoint.pt'));
    assert.ok(Number.isInteger(extra.round));
    await kds.dispose();
    model.dispose();
    const image = await readImage(path.join(dir, 'image.png'));
    assert.deepEqual(image.shape, [1, 3, 160, 160]);
    image.dispose();
    // Whatever else is there is an interrupted write, named so that no loader takes it for a real file.
    for (const name of fs.readdirSync(dir).filter((n) => !FILES.includes(n))) {
      assert.match(name, /(\.tmp-\d+-\d+$)|(^\..*\.\d+\.[0-9a-f]+\.tmp$)/, `unexpected file ${name}`);
      fs.rmSync(path.join(dir, name));
      leftovers++;
    }
  }
  // Not asserted (timing-dependent), but reported: how many kills landed inside a write.
  console.log(`kills that interrupted a write: ${leftovers}`);
});
