// A static server for the web example, on 127.0.0.1 only: the page (this folder), onnxruntime-web's dist
// files (from node_modules) under /ort/, and one exported model as /student.onnx.
//   node examples/web/serve.mjs student.onnx [port]     (then open the printed address)
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const PAGE_DIR = path.dirname(fileURLToPath(import.meta.url));
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream', '.css': 'text/css', '.png': 'image/png' };

/** The folder of onnxruntime-web's browser builds (ort.wasm.min.js and its .wasm files). */
export function ortDistDir() {
  return path.dirname(require.resolve('onnxruntime-web')); // the package's main file is in dist/
}

/** Starts the server; resolves to { url, close() }. port 0 picks a free one. */
export function startServer({ model, port = 0 }) {
  const routes = (urlPath) => {
    if (urlPath === '/' || urlPath === '/index.html') return path.join(PAGE_DIR, 'index.html');
    if (urlPath === '/app.js') return path.join(PAGE_DIR, 'app.js');
    if (urlPath === '/student.onnx') return model;
    if (urlPath.startsWith('/ort/')) {
      const name = path.basename(urlPath); // no sub-folders, no '..'
      return path.join(ortDistDir(), name);
    }
    return null;
  };
  const server = http.createServer((req, res) => {
    const file = routes(new URL(req.url, 'http://localhost').pathname);
    if (!file || !fs.existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address();
      resolve({
        url: `http://127.0.0.1:${bound}/`,
        close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); }),
      });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [model, port] = process.argv.slice(2);
  if (!model || !fs.existsSync(model)) {
    console.error('usage: node examples/web/serve.mjs student.onnx [port]   (kds export writes the .onnx file)');
    process.exit(2);
  }
  const { url } = await startServer({ model: path.resolve(model), port: Number(port ?? 8080) });
  console.log(`serving ${model} at ${url} (Ctrl-C stops)`);
}
