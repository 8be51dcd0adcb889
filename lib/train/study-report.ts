// The files a study writes: study.json (everything), study.md (one table and the verdict) and study.png
// (each recipe's paired difference with scratch, per seed, with its mean and 95% interval).
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file';
import { COLORS, svgToPng } from './charts';
import { formatInterval } from './stats';
import type { RecipeSummary, StudyResult } from './study-result';

type Body = Omit<StudyResult, 'files'>;

export async function writeStudyReport(outDir: string, result: Body, names: { test: string[]; val: string[] }): Promise<StudyResult['files']> {
  const files = { json: path.join(outDir, 'study.json'), markdown: path.join(outDir, 'study.md'), png: path.join(outDir, 'study.png') };
  await writeFileAtomic(files.json, `${JSON.stringify({ ...result, heldOut: names.test, validation: names.val }, null, 1)}\n`);
  await writeFileAtomic(files.markdown, studyMarkdown(result, names));
  await writeFileAtomic(files.png, await svgToPng(studySvg(result)));
  return files;
}

/** The Markdown table: every recipe's mean PSNR/SSIM and its paired difference with scratch under both rules. */
export function studyMarkdown(result: Body, names: { test: string[]; val: string[] }): string {
  const rule = result.headline;
  const lines = [
    `# Study: ${result.recipes.length} recipes x ${result.seeds.length} seeds, ${result.steps} steps each`,
    '',
    `Held-out photographs: ${names.test.join(', ')} (PSNR/SSIM on Y, never used in training or selection).` +
      (names.val.length ? ` Validation split (chooses the "best" weights): ${names.val.join(', ')}.` : ' No validation split: "best" is the final weights.'),
    `Seeds: ${result.seeds.join(', ')}; each seed gives every recipe the same initial weights and the same ordinary batches.`,
    `Headline rule: **${rule === 'best' ? 'validation-chosen weights' : 'final weights'}**. Intervals: 95%, Student t over seeds, of the paired difference with scratch.`,
    '',
    `Bicubic ${result.bicubic.psnr.toFixed(3)} dB / ${result.bicubic.ssim.toFixed(4)}; teacher ${result.teacher.psnr.toFixed(3)} dB / ${result.teacher.ssim.toFixed(4)}.`,
    '',
    '| recipe | PSNR final | minus scratch (final) | PSNR best-on-val | minus scratch (best) | SSIM minus scratch (headline) |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of result.recipes) {
    const v = r.vsScratch;
    const cell = (i?: RecipeSummary['vsScratch']) => i;
    lines.push(
      `| ${r.recipe} | ${r.final.psnr.toFixed(3)} | ${v ? formatInterval(v.final.psnr) : ''} | ${r.best.psnr.toFixed(3)} | ${v ? formatInterval(v.best.psnr) : ''} | ${cell(v) ? formatInterval(v![rule].ssim, 4, '') : ''} |`,
    );
  }
  lines.push('', ...result.recipes.map((r) => `- **${r.recipe}**: ${r.description}` +
    (r.vsScratch ? `; per seed (${rule}): ${r.vsScratch[rule].psnrPerSeed.map((d) => `${d >= 0 ? '+' : ''}${d.toFixed(3)}`).join(', ')} dB` : '')));
  lines.push('', `**Verdict:** ${result.verdict}`, '');
  return lines.join('\n');
}

/** Dots per seed, the mean as a bar and the 95% interval as a whisker, one column per recipe, zero marked. */
export function studySvg(result: Body): string {
  const rule = result.headline;
  const rows = result.recipes.filter((r) => r.vsScratch);
  const width = Math.max(480, 120 + 110 * rows.length), height = 380;
  const left = 70, right = 20, top = 60, bottom = 70;
  const values = rows.flatMap((r) => {
    const v = (r.vsScratch as NonNullable<RecipeSummary['vsScratch']>)[rule];
    return [...v.psnrPerSeed, v.psnr.low, v.psnr.high].filter((x) => Number.isFinite(x));
  });
  let lo = Math.min(0, ...values), hi = Math.max(0, ...values);
  const pad = (hi - lo || 0.1) * 0.1;
  lo -= pad;
  hi += pad;
  const y = (v: number) => top + ((hi - v) / (hi - lo)) * (height - top - bottom);
  const colW = (width - left - right) / Math.max(1, rows.length);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">PSNR minus scratch (dB), ${rule === 'best' ? 'validation-chosen' : 'final'} weights</text>`,
    `<text x="${width / 2}" y="38" text-anchor="middle" fill="#555">dots: seeds; black: mean; bar: 95% interval</text>`,
    `<line x1="${left}" x2="${width - right}" y1="${y(0)}" y2="${y(0)}" stroke="#888" stroke-dasharray="4 3"/>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(3)}</text>`);
  }
  rows.forEach((r, i) => {
    const v = (r.vsScratch as NonNullable<RecipeSummary['vsScratch']>)[rule];
    const cx = left + colW * (i + 0.5), color = COLORS[i % COLORS.length];
    if (Number.isFinite(v.psnr.low))
      parts.push(`<line x1="${cx}" x2="${cx}" y1="${y(v.psnr.low)}" y2="${y(v.psnr.high)}" stroke="${color}" stroke-width="3"/>`,
        `<line x1="${cx - 10}" x2="${cx + 10}" y1="${y(v.psnr.low)}" y2="${y(v.psnr.low)}" stroke="${color}" stroke-width="2"/>`,
        `<line x1="${cx - 10}" x2="${cx + 10}" y1="${y(v.psnr.high)}" y2="${y(v.psnr.high)}" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<line x1="${cx - 16}" x2="${cx + 16}" y1="${y(v.psnr.mean)}" y2="${y(v.psnr.mean)}" stroke="black" stroke-width="2"/>`);
    v.psnrPerSeed.forEach((d, k) => parts.push(`<circle cx="${cx + 22 + (k % 4) * 6}" cy="${y(d)}" r="3.5" fill="${color}" opacity="0.8"/>`));
    parts.push(`<text x="${cx}" y="${height - bottom + 18}" text-anchor="middle">${r.recipe}</text>`,
      `<text x="${cx}" y="${height - bottom + 34}" text-anchor="middle" fill="#555">${v.psnr.mean >= 0 ? '+' : ''}${v.psnr.mean.toFixed(3)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
