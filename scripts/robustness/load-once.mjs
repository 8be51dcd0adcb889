// Loads one file in a fresh process and prints the outcome as JSON ({ ok } or { code, message }), so a
// test can tell a crash (a signal exit) from an error. usage: node load-once.mjs statedict|checkpoint|torchscript FILE MODEL_JSON
import { KDS, loadTorchScript, models } from '../../dist/index.js';

const [kind, file, modelJson] = process.argv.slice(2);
const model = models.edsr(JSON.parse(modelJson));
try {
  if (kind === 'statedict') await model.loadStateDict(file);
  else if (kind === 'checkpoint') await new KDS().setStudent(model).loadCheckpoint(file);
  else if (kind === 'torchscript') await loadTorchScript(file);
  else throw new Error(`unknown kind ${kind}`);
  console.log(JSON.stringify({ ok: true }));
} catch (err) {
  console.log(JSON.stringify({ name: err.name, code: err.code, message: err.message }));
}
