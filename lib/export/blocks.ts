// The building blocks the SR models share (native/models/blocks.h, rcan.h), as ONNX subgraphs. Each
// takes the name of its input value and the state-dict prefix of its weights and returns its output value.
import { KDSError } from '../errors';
import { GraphBuilder } from './graph';

export interface NamedWeight {
  dims: number[];
  data: Float32Array;
}

/** A model's weights by state-dict key. */
export class Weights {
  private readonly added = new Set<string>();
  constructor(private readonly tensors: Map<string, NamedWeight>) {}

  get(key: string): NamedWeight {
    const w = this.tensors.get(key);
    if (!w) throw new KDSError('E_INTERNAL', `ONNX export: the model has no weight '${key}'`);
    return w;
  }

  /** Adds weight `key` to the graph once (a block used twice, like SAN's non-local block, shares it). */
  add(g: GraphBuilder, key: string): string {
    const w = this.get(key);
    if (!this.added.has(key)) g.weight(key, w.dims, w.data);
    this.added.add(key);
    return key;
  }
}

/** Conv2d with bias, stride 1, 'same' padding (EDSR-PyTorch's default_conv and the 1x1 convs). */
export function conv(g: GraphBuilder, w: Weights, x: string, prefix: string): string {
  const weight = w.get(`${prefix}.weight`);
  const k = weight.dims[2];
  const pad = Math.floor(k / 2);
  return g.op('Conv', [x, w.add(g, `${prefix}.weight`), w.add(g, `${prefix}.bias`)], {
    kernel_shape: [k, weight.dims[3]],
    pads: [pad, pad, pad, pad],
  }, 'conv');
}

/** conv -> ReLU -> conv (prefix.{first}, prefix.{first + 2}). */
export function convReluConv(g: GraphBuilder, w: Weights, x: string, prefix: string): string {
  return conv(g, w, g.op('Relu', [conv(g, w, x, `${prefix}.0`)]), `${prefix}.2`);
}

/** y * s, left out when s is 1. */
export function scaled(g: GraphBuilder, y: string, s: number): string {
  return s === 1 ? y : g.op('Mul', [y, g.scalarOrArray([s])]);
}

/** EDSR's ResBlock: x + resScale * conv(relu(conv(x))); convs at prefix.body.{0,2}. */
export function resBlock(g: GraphBuilder, w: Weights, x: string, prefix: string, resScale: number): string {
  return g.op('Add', [scaled(g, convReluConv(g, w, x, `${prefix}.body`), resScale), x]);
}

/**
 * The sub-pixel upsampler at `prefix` (tail.0): (conv to 4F, PixelShuffle(2)) per factor 2, or (conv to 9F,
 * PixelShuffle(3)). PixelShuffle is DepthToSpace in CRD mode, which orders channels as PyTorch does.
 */
export function upsampler(g: GraphBuilder, w: Weights, x: string, prefix: string, scale: number): string {
  const steps = scale === 3 ? [3] : Array.from({ length: Math.log2(scale) }, () => 2);
  let y = x;
  steps.forEach((factor, i) => {
    y = conv(g, w, y, `${prefix}.${2 * i}`);
    y = g.op('DepthToSpace', [y], { blocksize: factor, mode: 'CRD' }, 'shuffle');
  });
  return y;
}

/** RCAN's CALayer: x * sigmoid(conv(relu(conv(avgpool(x))))), convs at prefix.conv_du.{0,2}. */
export function channelAttention(g: GraphBuilder, w: Weights, x: string, prefix: string): string {
  const pooled = g.op('GlobalAveragePool', [x]);
  const weights = g.op('Sigmoid', [convReluConv(g, w, pooled, `${prefix}.conv_du`)]);
  return g.op('Mul', [x, weights]);
}

/** The mean shift (a frozen 1x1 conv) and the head conv: the common start of every model. */
export function head(g: GraphBuilder, w: Weights, input: string): string {
  return conv(g, w, conv(g, w, input, 'sub_mean'), 'head.0');
}

/** The upsampler, the last conv and the mean shift back: the common end of every model. */
export function tail(g: GraphBuilder, w: Weights, x: string, scale: number): string {
  return conv(g, w, conv(g, w, upsampler(g, w, x, 'tail.0', scale), 'tail.1'), 'add_mean');
}
