// RCAN (native/models/rcan.cc) as an ONNX graph: residual groups of RCABs (conv, ReLU, conv, channel
// attention, times resScale, plus the input), each group closed by a conv and its own skip; the body's last
// conv plus the global skip; the shared tail. The feature taps are left out.
import type { RcanSpec } from '../models/rcan';
import { channelAttention, conv, convReluConv, head, scaled, tail, Weights } from './blocks';
import { GraphBuilder } from './graph';

function rcab(g: GraphBuilder, w: Weights, x: string, prefix: string, resScale: number): string {
  const body = channelAttention(g, w, convReluConv(g, w, x, `${prefix}.body`), `${prefix}.body.3`);
  return g.op('Add', [scaled(g, body, resScale), x]);
}

function residualGroup(g: GraphBuilder, w: Weights, x: string, prefix: string, spec: RcanSpec): string {
  let y = x;
  for (let b = 0; b < spec.nResblocks; ++b) y = rcab(g, w, y, `${prefix}.body.${b}`, spec.resScale);
  return g.op('Add', [conv(g, w, y, `${prefix}.body.${spec.nResblocks}`), x]);
}

export function rcanGraph(g: GraphBuilder, w: Weights, spec: RcanSpec, input: string): string {
  const x = head(g, w, input);
  let res = x;
  for (let i = 0; i < spec.nResgroups; ++i) res = residualGroup(g, w, res, `body.${i}`, spec);
  res = g.op('Add', [conv(g, w, res, `body.${spec.nResgroups}`), x]);
  return tail(g, w, res, spec.scale);
}
