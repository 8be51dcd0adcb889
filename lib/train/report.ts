// The end-of-run report: a Markdown and an HTML page with the loss and validation-PSNR chart (PNG),
// a results table, and side-by-side crops (bicubic | student | teacher | ground truth) as PNG.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../atomic-file';
import { KDSError } from '../errors';
import { Tensor } from '../tensor';
import { checkOptions, invalidParameterError, nonEmptyString } from '../validate';
import { chartSvg, COLORS, Panel, Series, sharpModule, smooth, svgToPng, thin } from './charts';
import type { LogRecord, StepRecord, ValidationRecord } from './log';

export interface ReportRun {
  label: string;
  log: LogRecord[];
}

export interface ReportRow {
  name: string;
  parameters?: number;
  psnr: number;
  ssim: number;
}

export interface CropPanel {
  label: string;
  /** One image [1, 3, H, W], 0..255; every panel the same size. */
  image: Tensor;
}

export interface ReportOptions {
  outDir: string;
  title: string;
  /** Runs whose logs are charted (one line each). */
  runs: ReportRun[];
  /** A results table. */
  table?: { caption: string; rows: ReportRow[] };
  /** Crops of one image; the region is where the first panel differs most from the last. */
  crops?: { image: string; panels: CropPanel[] };
  /** Paragraphs of text, placed after the table. */
  notes?: string[];
}

export interface ReportFiles {
  markdown: string;
  html: string;
  chart: string;
  crops?: string;
}

/** The chart's two panels: training L1 to the ground truth (DS) and validation PSNR, per run. */
export function reportPanels(runs: ReportRun[]): Panel[] {
  const loss: Series[] = [];
  let lossTop = 0;
  const psnr: Series[] = [];
  runs.forEach((run, i) => {
    const color = COLORS[i % COLORS.length];
    const steps = run.log.filter((r): r is StepRecord => r.type === 'step');
    const window = Math.max(1, Math.round(steps.length / 50));
    const points = thin(smooth(steps.map((r) => [r.step, r.DS]), window));
    loss.push({ label: `${run.label} (DS, moving average of ${window})`, color, points });
    // The first steps drop steeply; scale the axis to the rest of the run.
    const rest = points.slice(Math.floor(points.length * 0.05));
    lossTop = Math.max(lossTop, ...rest.map((q) => q[1]));
    const vals = run.log.filter((r): r is ValidationRecord => r.type === 'validation');
    psnr.push({ label: run.label, color, points: vals.map((r) => [r.step, r.psnr]) });
  });
  const bicubic = runs.flatMap((r) => r.log).find((r): r is ValidationRecord => r.type === 'validation' && r.bicubic !== undefined);
  if (bicubic?.bicubic) {
    const xs = runs.flatMap((r) => r.log.filter((q) => q.type === 'validation').map((q) => q.step));
    psnr.push({ label: 'bicubic', color: '#555555', dashed: true, points: [[Math.min(0, ...xs), bicubic.bicubic.psnr], [Math.max(...xs), bicubic.bicubic.psnr]] });
  }
  return [
    { title: 'Training loss: L1 to ground truth', xLabel: 'step', yLabel: 'L1 (0..255 scale)', series: loss, yTop: lossTop > 0 ? lossTop * 1.15 : undefined },
    { title: 'Validation PSNR (Y)', xLabel: 'step', yLabel: 'PSNR (dB)', series: psnr, legend: 'bottom-right' },
  ];
}

// The top-left corner of the size x size window where images a and b differ most (on a coarse grid).
function busiestRegion(a: Float32Array, b: Float32Array, height: number, width: number, size: number): { y: number; x: number } {
  const stride = Math.max(4, Math.floor(size / 4));
  let best = { y: 0, x: 0, err: -1 };
  const plane = height * width;
  for (let y = 0; y + size <= height; y += stride)
    for (let x = 0; x + size <= width; x += stride) {
      let err = 0;
      for (let yy = y; yy < y + size; yy += 2)
        for (let xx = x; xx < x + size; xx += 2)
          for (let c = 0; c < 3; c++) {
            const i = c * plane + yy * width + xx;
            err += Math.abs(a[i] - b[i]);
          }
      if (err > best.err) best = { y, x, err };
    }
  return { y: best.y, x: best.x };
}

function cropRgb(values: Float32Array, height: number, width: number, y: number, x: number, size: number): Buffer {
  const out = Buffer.alloc(size * size * 3);
  const plane = height * width;
  for (let yy = 0; yy < size; yy++)
    for (let xx = 0; xx < size; xx++)
      for (let c = 0; c < 3; c++) {
        const v = values[c * plane + (y + yy) * width + (x + xx)];
        out[(yy * size + xx) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
  return out;
}

/** Crops of the same region of every panel, enlarged without smoothing, labelled, side by side. */
export async function cropsPng(panels: CropPanel[], size = 80, zoom = 3): Promise<{ png: Buffer; region: { y: number; x: number; size: number } }> {
  if (panels.length === 0) throw new KDSError('E_ARG', 'crops need at least one panel');
  const shape = panels[0].image.shape;
  for (const p of panels)
    if (p.image.shape.join() !== shape.join())
      throw new KDSError('E_SHAPE', `crop panel '${p.label}' is [${p.image.shape.join(', ')}] but '${panels[0].label}' is [${shape.join(', ')}]`);
  const [, , height, width] = shape;
  const side = Math.min(size, height, width);
  const values = panels.map((p) => p.image.toFloat32Array());
  const { y, x } = busiestRegion(values[0], values[values.length - 1], height, width, side);
  const sharp = sharpModule();
  const tile = side * zoom, gap = 8, band = 26;
  const tiles = await Promise.all(
    values.map((v) => sharp(cropRgb(v, height, width, y, x, side), { raw: { width: side, height: side, channels: 3 } }).resize(tile, tile, { kernel: 'nearest' }).png().toBuffer()),
  );
  const canvasWidth = panels.length * tile + (panels.length - 1) * gap;
  const labels = panels
    .map((p, i) => `<text x="${i * (tile + gap) + tile / 2}" y="18" text-anchor="middle" font-size="15">${p.label.replace(/[<>&]/g, '')}</text>`)
    .join('');
  const labelSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="${canvasWidth}" height="${band}" font-family="DejaVu Sans, Arial, sans-serif">${labels}</svg>`;
  const png = await sharp({ create: { width: canvasWidth, height: tile + band, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite([{ input: Buffer.from(labelSvg), top: 0, left: 0 }, ...tiles.map((t, i) => ({ input: t, top: band, left: i * (tile + gap) }))])
    .png()
    .toBuffer();
  return { png, region: { y, x, size: side } };
}

function markdownTable(rows: ReportRow[]): string {
  const withParams = rows.some((r) => r.parameters !== undefined);
  const head = `| model |${withParams ? ' parameters |' : ''} PSNR (dB) | SSIM |\n|---|${withParams ? '---:|' : ''}---:|---:|`;
  const body = rows.map((r) => `| ${r.name} |${withParams ? ` ${r.parameters ?? ''} |` : ''} ${r.psnr.toFixed(3)} | ${r.ssim.toFixed(4)} |`);
  return [head, ...body].join('\n');
}

function htmlEscape(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] as string);
}

/** Writes report.md, report.html, report-chart.png and (with crops) report-crops.png into outDir. */
export async function writeReport(options: ReportOptions): Promise<ReportFiles> {
  checkOptions(options ?? null, 'report options', ['outDir', 'title', 'runs', 'table', 'crops', 'notes']);
  const outDir = nonEmptyString(options.outDir, 'outDir');
  const title = options.title;
  if (typeof title !== 'string') throw invalidParameterError('title', 'a string', title);
  if (!Array.isArray(options.runs)) throw invalidParameterError('runs', 'an array of { label, log }', options.runs);
  fs.mkdirSync(outDir, { recursive: true });
  const chart = path.join(outDir, 'report-chart.png');
  writeFileAtomicSync(chart, await svgToPng(chartSvg(reportPanels(options.runs))));
  let crops: string | undefined;
  let cropNote = '';
  if (options.crops) {
    crops = path.join(outDir, 'report-crops.png');
    const { png, region } = await cropsPng(options.crops.panels);
    writeFileAtomicSync(crops, png);
    cropNote = `${options.crops.image}, the ${region.size} x ${region.size} pixel region at (x ${region.x}, y ${region.y}) where bicubic is furthest from the ground truth, enlarged 3x without smoothing.`;
  }
  const md: string[] = [`# ${title}`, ''];
  const html: string[] = [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${htmlEscape(title)}</title>`,
    '<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px}td.n{text-align:right}img{max-width:100%}</style>',
    `</head><body><h1>${htmlEscape(title)}</h1>`,
  ];
  if (options.table) {
    md.push(options.table.caption, '', markdownTable(options.table.rows), '');
    const withParams = options.table.rows.some((r) => r.parameters !== undefined);
    html.push(`<p>${htmlEscape(options.table.caption)}</p><table><tr><th>model</th>${withParams ? '<th>parameters</th>' : ''}<th>PSNR (dB)</th><th>SSIM</th></tr>`);
    for (const r of options.table.rows)
      html.push(`<tr><td>${htmlEscape(r.name)}</td>${withParams ? `<td class="n">${r.parameters ?? ''}</td>` : ''}<td class="n">${r.psnr.toFixed(3)}</td><td class="n">${r.ssim.toFixed(4)}</td></tr>`);
    html.push('</table>');
  }
  for (const note of options.notes ?? []) {
    md.push(note, '');
    html.push(`<p>${htmlEscape(note)}</p>`);
  }
  md.push('## Training', '', `![loss and validation PSNR](${path.basename(chart)})`, '');
  html.push(`<h2>Training</h2><img src="${path.basename(chart)}" alt="loss and validation PSNR">`);
  for (const run of options.runs) {
    const steps = run.log.filter((r): r is StepRecord => r.type === 'step');
    const vals = run.log.filter((r): r is ValidationRecord => r.type === 'validation');
    const last = vals.at(-1);
    const line = `${run.label}: ${steps.length} steps logged${last ? `, last validation at step ${last.step}: PSNR ${last.psnr.toFixed(3)} dB, SSIM ${last.ssim.toFixed(4)}` : ''}.`;
    md.push(`- ${line}`);
    html.push(`<p>${htmlEscape(line)}</p>`);
  }
  md.push('');
  if (crops) {
    md.push('## Crops', '', cropNote, '', `![crops](${path.basename(crops)})`, '');
    html.push(`<h2>Crops</h2><p>${htmlEscape(cropNote)}</p><img src="${path.basename(crops)}" alt="crops">`);
  }
  html.push('</body></html>');
  const markdown = path.join(outDir, 'report.md');
  const htmlFile = path.join(outDir, 'report.html');
  writeFileAtomicSync(markdown, md.join('\n'));
  writeFileAtomicSync(htmlFile, html.join('\n'));
  return { markdown, html: htmlFile, chart, crops };
}
