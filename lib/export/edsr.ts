// EDSR (native/models/edsr.cc) as an ONNX graph: mean shift, head, resScale'd residual blocks, the body's
// last conv plus the global skip, upsampler, last conv, mean shift back. The feature taps are left out.
import type { EdsrSpec } from '../models/edsr';
import { conv, head, resBlock, tail, Weights } from './blocks';
import { GraphBuilder } from './graph';

export function edsrGraph(g: GraphBuilder, w: Weights, spec: EdsrSpec, input: string): string {
  const x = head(g, w, input);
  let res = x;
  for (let i = 0; i < spec.nResblocks; ++i) res = resBlock(g, w, res, `body.${i}`, spec.resScale);
  res = g.op('Add', [conv(g, w, res, `body.${spec.nResblocks}`), x]);
  return tail(g, w, res, spec.scale);
}
