// Line charts as SVG (drawn here, no plotting library) and rendered to PNG with sharp.
import { KDSError } from '../errors';

export interface Series {
  label: string;
  points: [number, number][];
  color: string;
  dashed?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Upper end of the y axis (points above it are cut off), e.g. to keep a first steep drop from flattening the rest. */
  yTop?: number;
  /** Where the legend goes. Default 'top-right'. */
  legend?: 'top-right' | 'bottom-right';
}

export const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

/** Round, readable tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) as number;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

/** One panel of `width` x `height` pixels at (x0, y0), as SVG elements. */
function panelSvg(p: Panel, x0: number, y0: number, width: number, height: number): string {
  const m = { left: 64, right: 16, top: 30, bottom: 44 };
  const w = width - m.left - m.right, h = height - m.top - m.bottom;
  const all = p.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const parts: string[] = [];
  parts.push(`<text x="${x0 + width / 2}" y="${y0 + 18}" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(p.title)}</text>`);
  parts.push(`<rect x="${x0 + m.left}" y="${y0 + m.top}" width="${w}" height="${h}" fill="none" stroke="#888"/>`);
  if (all.length === 0) {
    parts.push(`<text x="${x0 + m.left + w / 2}" y="${y0 + m.top + h / 2}" text-anchor="middle" font-size="13" fill="#666">no data</text>`);
    return parts.join('');
  }
  let xMin = Math.min(...all.map((q) => q[0])), xMax = Math.max(...all.map((q) => q[0]));
  let yMin = Math.min(...all.map((q) => q[1])), yMax = Math.max(...all.map((q) => q[1]));
  if (xMax === xMin) xMax = xMin + 1;
  if (p.yTop !== undefined && p.yTop > yMin) yMax = Math.min(yMax, p.yTop);
  const pad = (yMax - yMin) * 0.05 || Math.abs(yMax) * 0.05 || 1;
  yMin -= pad;
  yMax += pad;
  if (xMin > 0 && xMin < (xMax - xMin) * 0.2) xMin = 0;
  const sx = (x: number) => x0 + m.left + ((x - xMin) / (xMax - xMin)) * w;
  const sy = (y: number) => y0 + m.top + h - ((y - yMin) / (yMax - yMin)) * h;
  for (const t of ticks(yMin, yMax)) {
    parts.push(`<line x1="${x0 + m.left}" x2="${x0 + m.left + w}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${x0 + m.left - 6}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${formatTick(t)}</text>`);
  }
  for (const t of ticks(xMin, xMax)) {
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${y0 + m.top + h}" y2="${y0 + m.top + h + 4}" stroke="#888"/>`);
    parts.push(`<text x="${sx(t)}" y="${y0 + m.top + h + 17}" text-anchor="middle" font-size="11">${formatTick(t)}</text>`);
  }
  parts.push(`<text x="${x0 + m.left + w / 2}" y="${y0 + height - 6}" text-anchor="middle" font-size="12">${escapeXml(p.xLabel)}</text>`);
  parts.push(
    `<text x="${x0 + 14}" y="${y0 + m.top + h / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 + 14} ${y0 + m.top + h / 2})">${escapeXml(p.yLabel)}</text>`,
  );
  const legendWidth = 16 + 7 * Math.max(0, ...p.series.map((s) => s.label.length)) + 40;
  const legendX = x0 + m.left + w - legendWidth - 6;
  const legendTop = p.legend === 'bottom-right' ? y0 + m.top + h - 10 - p.series.length * 16 : y0 + m.top + 6;
  const legend: string[] = [`<rect x="${legendX - 4}" y="${legendTop}" width="${legendWidth}" height="${p.series.length * 16 + 6}" fill="white" fill-opacity="0.85" stroke="#ccc"/>`];
  const clip = `clip${Math.round(x0)}_${Math.round(y0)}`;
  parts.push(`<clipPath id="${clip}"><rect x="${x0 + m.left}" y="${y0 + m.top}" width="${w}" height="${h}"/></clipPath>`);
  p.series.forEach((s, i) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (pts.length === 0) return;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (pts.length === 1) parts.push(`<circle cx="${sx(pts[0][0])}" cy="${sy(pts[0][1])}" r="3" fill="${s.color}"/>`);
    else parts.push(`<polyline clip-path="url(#${clip})" fill="none" stroke="${s.color}" stroke-width="1.8"${dash} points="${pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
    if (pts.length <= 30) for (const [x, y] of pts) parts.push(`<circle cx="${sx(x)}" cy="${sy(y)}" r="2.5" fill="${s.color}"/>`);
    const ly = legendTop + 16 + i * 16;
    legend.push(`<line x1="${legendX + 4}" x2="${legendX + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    legend.push(`<text x="${legendX + 34}" y="${ly}" font-size="12">${escapeXml(s.label)}</text>`);
  });
  return parts.join('') + legend.join('');
}

/** Panels side by side as one SVG document. */
export function chartSvg(panels: Panel[], panelWidth = 520, panelHeight = 360): string {
  const width = panelWidth * panels.length;
  const body = panels.map((p, i) => panelSvg(p, i * panelWidth, 0, panelWidth, panelHeight)).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${panelHeight}" font-family="DejaVu Sans, Arial, sans-serif"><rect width="100%" height="100%" fill="white"/>${body}</svg>`;
}

/** Moving average over `window` points, so that noisy per-step losses read as curves. */
export function smooth(points: [number, number][], window: number): [number, number][] {
  if (window <= 1) return points;
  const out: [number, number][] = [];
  let sum = 0;
  for (let i = 0; i < points.length; i++) {
    sum += points[i][1];
    if (i >= window) sum -= points[i - window][1];
    out.push([points[i][0], sum / Math.min(i + 1, window)]);
  }
  return out;
}

/** Keeps at most `max` points, evenly spaced (and the last), so the SVG stays small. */
export function thin(points: [number, number][], max = 400): [number, number][] {
  if (points.length <= max) return points;
  const stride = points.length / max;
  const out: [number, number][] = [];
  for (let i = 0; i < max; i++) out.push(points[Math.floor(i * stride)]);
  out.push(points[points.length - 1]);
  return out;
}

type SharpModule = typeof import('sharp');

/** @internal sharp, loaded on first use. */
export function sharpModule(): SharpModule {
  try {
    return require('sharp') as SharpModule;
  } catch (err) {
    throw new KDSError('E_NATIVE', `the image library sharp could not be loaded (${(err as Error).message.split('\n')[0]}); reinstall kds's dependencies`, { cause: err });
  }
}

export async function svgToPng(svg: string): Promise<Buffer> {
  return sharpModule()(Buffer.from(svg)).png().toBuffer();
}
