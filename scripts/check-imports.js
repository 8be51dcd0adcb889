#!/usr/bin/env node
// Checks lib/'s import graph (type-only imports included): no cycles, and lib/native.ts and lib/addon-types.ts
// import nothing but leaf modules. Exits 1 with the cycles it found.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const lib = path.resolve(__dirname, '..', 'lib');
const files = [];
(function walk(dir) {
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) walk(p);
    else if (d.name.endsWith('.ts')) files.push(p);
  }
})(lib);

const rel = (f) => path.relative(lib, f);
const graph = new Map();
for (const file of files) {
  const text = fs.readFileSync(file, 'utf8');
  const deps = new Set();
  // import ... from './x', export ... from './x', import('./x') in types
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = path.resolve(path.dirname(file), m[1]);
    const resolved = [`${target}.ts`, path.join(target, 'index.ts')].find((c) => fs.existsSync(c));
    if (resolved) deps.add(resolved);
  }
  graph.set(file, deps);
}

const problems = [];
// Cycles: depth-first search with an explicit stack of the current path.
const state = new Map(); // 1: on the path, 2: done
const stack = [];
function visit(f) {
  state.set(f, 1);
  stack.push(f);
  for (const d of graph.get(f)) {
    if (state.get(d) === 1) problems.push(`cycle: ${[...stack.slice(stack.indexOf(d)), d].map(rel).join(' -> ')}`);
    else if (!state.has(d)) visit(d);
  }
  stack.pop();
  state.set(f, 2);
}
for (const f of files) if (!state.has(f)) visit(f);

// The addon's typed surface sits at the bottom: it may import only modules that import nothing themselves.
for (const low of ['native.ts', 'addon-types.ts']) {
  const file = path.join(lib, low);
  for (const d of graph.get(file) ?? [])
    if (graph.get(d).size > 0) problems.push(`${low} imports ${rel(d)}, which is not a leaf module`);
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`lib/: ${files.length} modules, no import cycles; native.ts imports only leaf modules`);
