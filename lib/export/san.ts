// SAN (native/models/san.cc, san_attention.cc) as an ONNX graph in standard ops: the region non-local block
// (embedded Gaussian on each quadrant), local-source groups with second-order channel attention (covariance
// pooling, the coupled Newton-Schulz square root, 1x1-conv bottleneck), the share-source skip (gamma). The
// covariance and its square root stay in float32 in fp16 graphs: a trace can exceed float16's range.
import type { SanSpec } from '../models/san';
import { conv, convReluConv, head, tail, Weights } from './blocks';
import { GraphBuilder } from './graph';

const SQRT_ITERATIONS = 5; // SAN's SOCA
const MAX_COVARIANCE_SIDE = 1000; // SAN crops larger maps to their centre
const BIG = 2 ** 52; // a Slice end past any dimension

function eye(c: number, diagonal: number): number[] {
  const out = new Array<number>(c * c).fill(0);
  for (let i = 0; i < c; ++i) out[i * c + i] = diagonal;
  return out;
}

/** [h, w] of a 4-D value, as an int64 tensor of 2. */
function spatialShape(g: GraphBuilder, x: string): string {
  return g.op('Slice', [g.op('Shape', [x]), g.int64([2]), g.int64([4])]);
}

/** The central MAX_COVARIANCE_SIDE rows and columns of a larger map (the whole map otherwise). */
function centralCrop(g: GraphBuilder, x: string): string {
  const over = g.op('Sub', [spatialShape(g, x), g.int64([MAX_COVARIANCE_SIDE, MAX_COVARIANCE_SIDE])]);
  const start = g.op('Max', [g.op('Div', [over, g.int64([2, 2])]), g.int64([0, 0])]);
  const end = g.op('Add', [start, g.int64([MAX_COVARIANCE_SIDE, MAX_COVARIANCE_SIDE])]);
  return g.op('Slice', [x, start, end, g.int64([2, 3])]);
}

/** Second-order channel attention at `prefix` (its conv_du.{0,2}), for a map of c channels. */
function secondOrderAttention(g: GraphBuilder, w: Weights, x: string, prefix: string, c: number): string {
  const flat = g.op('Reshape', [g.toFloat32(centralCrop(g, x)), g.int64([0, 0, -1])]); // B x C x M
  const centred = g.op('Sub', [flat, g.reduceMean(flat, [2], true)]);
  const pixels = g.op('Cast', [g.op('Gather', [g.op('Shape', [flat]), g.int64([2], [])], { axis: 0 })], { to: 1 });
  const cov = g.op('Div', [g.op('MatMul', [centred, g.op('Transpose', [centred], { perm: [0, 2, 1] })]), pixels]);
  // coupled Newton-Schulz iteration with trace pre-normalisation and post-compensation (native newtonSchulzSqrt)
  const identity = g.float32(eye(c, 1), [c, c]);
  const i3 = g.float32(eye(c, 3), [c, c]);
  const half = g.float32([0.5]);
  const trace = g.reduceSum(g.op('Mul', [cov, identity]), [1, 2], true); // B x 1 x 1
  const a = g.op('Div', [cov, trace]);
  let zy = g.op('Mul', [half, g.op('Sub', [i3, a])]);
  let y = g.op('MatMul', [a, zy]);
  let z = zy;
  for (let i = 1; i < SQRT_ITERATIONS - 1; ++i) {
    zy = g.op('Mul', [half, g.op('Sub', [i3, g.op('MatMul', [z, y])])]);
    const nextY = g.op('MatMul', [y, zy]);
    z = g.op('MatMul', [zy, z]);
    y = nextY;
  }
  zy = g.op('Mul', [half, g.op('MatMul', [y, g.op('Sub', [i3, g.op('MatMul', [z, y])])])]);
  const root = g.op('Mul', [zy, g.op('Sqrt', [trace])]);
  const pooled = g.op('Reshape', [g.reduceMean(root, [1], false), g.int64([0, c, 1, 1])]);
  const weights = g.op('Sigmoid', [convReluConv(g, w, g.fromFloat32(pooled), `${prefix}.conv_du`)]);
  return g.op('Mul', [weights, x]);
}

/** The embedded-Gaussian non-local block at `prefix` (g, theta, phi, W): W(softmax(theta^T phi) g) + x. */
function nonLocalBlock(g: GraphBuilder, w: Weights, x: string, prefix: string, inner: number): string {
  const flatten = (v: string) => g.op('Reshape', [v, g.int64([0, inner, -1])]); // B x inner x N
  const transposed = (v: string) => g.op('Transpose', [v], { perm: [0, 2, 1] });
  const gx = transposed(flatten(conv(g, w, x, `${prefix}.g`)));
  const theta = transposed(flatten(conv(g, w, x, `${prefix}.theta`)));
  const phi = flatten(conv(g, w, x, `${prefix}.phi`));
  const attention = g.op('Softmax', [g.op('MatMul', [theta, phi])], { axis: -1 });
  const shape = g.op('Concat', [g.int64([0, inner]), spatialShape(g, x)], { axis: 0 });
  const y = g.op('Reshape', [transposed(g.op('MatMul', [attention, gx])), shape]);
  return g.op('Add', [conv(g, w, y, `${prefix}.W`), x]);
}

/** SAN's Nonlocal_CA: the non-local block on each quadrant on its own (split at floor(H/2), floor(W/2)). */
function regionNonLocal(g: GraphBuilder, w: Weights, x: string, inner: number): string {
  const half = g.op('Div', [spatialShape(g, x), g.int64([2, 2])]); // [h1, w1]
  const h1 = g.op('Slice', [half, g.int64([0]), g.int64([1])]);
  const w1 = g.op('Slice', [half, g.int64([1]), g.int64([2])]);
  const pair = (a: string, b: string) => g.op('Concat', [a, b], { axis: 0 });
  const zero = g.int64([0]);
  const big = g.int64([BIG]);
  const region = (starts: string, ends: string) =>
    nonLocalBlock(g, w, g.op('Slice', [x, starts, ends, g.int64([2, 3])]), 'non_local.non_local', inner);
  const upper = g.op('Concat', [region(g.int64([0, 0]), half), region(pair(zero, w1), pair(h1, big))], { axis: 3 });
  const lower = g.op('Concat', [region(pair(h1, zero), pair(big, w1)), region(half, g.int64([BIG, BIG]))], { axis: 3 });
  return g.op('Concat', [upper, lower], { axis: 2 });
}

function lsrag(g: GraphBuilder, w: Weights, x: string, prefix: string, spec: SanSpec): string {
  let y = x;
  for (let b = 0; b < spec.nResblocks; ++b) y = g.op('Add', [convReluConv(g, w, y, `${prefix}.rcab.${b}.conv_first`), y]);
  y = secondOrderAttention(g, w, y, `${prefix}.soca`, spec.nFeats);
  return g.op('Add', [conv(g, w, y, `${prefix}.conv_last`), x]);
}

export function sanGraph(g: GraphBuilder, w: Weights, spec: SanSpec, input: string): string {
  const x = head(g, w, input);
  const shared = regionNonLocal(g, w, x, spec.nonLocalChannels);
  const gammaShared = g.op('Mul', [w.add(g, 'gamma'), shared]);
  let res = shared;
  for (let i = 0; i < spec.nResgroups; ++i) res = g.op('Add', [lsrag(g, w, res, `RG.${i}`, spec), gammaShared]);
  res = regionNonLocal(g, w, res, spec.nonLocalChannels);
  return tail(g, w, g.op('Add', [res, x]), spec.scale);
}
