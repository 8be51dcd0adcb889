// `kds study`: several recipes of one student, several seeds each, paired by seed and compared with
// scratch on held-out photographs (lib/train/study.ts). Everything is checked before the first step: a bad
// recipe, seed list, scale, ratio or folder is a usage error (exit 2, one line).
import path from 'node:path';
import { datasets } from '../data/datasets';
import { KDSError } from '../errors';
import { setNumThreads } from '../runtime';
import type { ScheduleOptions } from '../train/schedule';
import { validationSplit } from '../train/split';
import { checkStudyOptions, Recipe, RECIPES, study, StudyOptions } from '../train/study';
import { numberInRange } from '../validate';
import { asUsage, Parsed, UsageError } from './args';
import { device } from './flags';
import { buildArch, loadModel } from './model-spec';
import fs from 'node:fs';

/** Turns the checks' argument, shape and missing-folder errors into usage errors (exit 2). */
async function asUsageAsync<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof KDSError && (err.code === 'E_ARG' || err.code === 'E_SHAPE' || err.code === 'E_FILE')) throw new UsageError(err.message);
    throw err;
  }
}

function recipesFromFlags(parsed: Parsed): (string | Recipe)[] {
  const names = (parsed.value<string>('recipes') ?? '').split(',').map((r) => r.trim()).filter(Boolean);
  const file = parsed.value<string>('recipes-file');
  let custom: Recipe[] = [];
  if (file) {
    try {
      custom = JSON.parse(fs.readFileSync(file, 'utf8')) as Recipe[];
    } catch (err) {
      throw new UsageError(`--recipes-file '${file}': ${(err as Error).message.split('\n')[0]}`);
    }
    if (!Array.isArray(custom)) throw new UsageError(`--recipes-file '${file}' must hold a JSON array of recipes`);
  }
  const ratio = parsed.value<number>('labelled-ratio');
  const list: (string | Recipe)[] = [...names, ...custom];
  if (ratio === undefined) return list;
  numberInRange(ratio, '--labelled-ratio', 0, 1);
  return list.map((r) => {
    const recipe = typeof r === 'string' ? RECIPES[r] : r;
    return recipe?.teacherData ? { ...recipe, teacherData: { ...recipe.teacherData, ratio } } : r;
  });
}

/** Runs `kds study`; resolves to the exit code. */
export async function runStudy(parsed: Parsed, out: (line: string) => void): Promise<number> {
  if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument '${parsed.positionals[0]}'`);
  const threads = parsed.value<number>('threads');
  if (threads !== undefined) setNumThreads(threads);
  const outDir = parsed.value<string>('out') as string;
  const deviceName = asUsage(() => device(parsed.value<string>('device'), 'device')) as string;

  const prepared = await asUsageAsync(async () => {
    const teacherArch = parsed.value<string>('teacher-arch');
    // With --teacher-arch and no --scale the teacher is x2; without it the sidecar says.
    const { model: teacher, scale } = await loadModel({ weights: parsed.value<string>('teacher'), arch: teacherArch }, parsed.value<number>('scale') ?? (teacherArch ? 2 : undefined), 'teacher');
    const s = scale ?? teacher.scale ?? 2;
    const studentArch = parsed.value<string>('student') as string;
    buildArch(studentArch, s).dispose(); // the architecture string is checked now, not at the first run
    const photos = datasets.folder(parsed.value<string>('train') as string, { scale: s });
    const test = datasets.folder(parsed.value<string>('test') as string, { scale: s });
    const unlabelledDir = parsed.value<string>('unlabelled');
    const unlabelled = unlabelledDir ? datasets.folder(unlabelledDir, { scale: s }) : undefined;
    const valCount = parsed.value<number>('val-count') as number;
    const warmup = parsed.value<number>('warmup');
    const schedule = { type: parsed.value<string>('schedule'), lr: parsed.value<number>('lr'), ...(warmup ? { warmup } : {}) } as ScheduleOptions;
    const options: StudyOptions = {
      teacher, student: () => buildArch(studentArch, s), train: photos, test, unlabelled,
      recipes: recipesFromFlags(parsed), seeds: parsed.value<number[]>('seeds') as number[],
      steps: parsed.value<number>('steps') as number, batchSize: parsed.value<number>('batch-size') as number,
      patchSize: parsed.value<number>('patch-size') as number, schedule,
      fit: { ema: parsed.value<number>('ema'), optimizer: { clipGradNorm: parsed.value<number>('clip-grad-norm') ?? 0 } },
      outDir, resume: parsed.value<boolean>('resume'), progress: 'none', device: deviceName, log: (line) => out(`  ${line}`),
    };
    checkStudyOptions(options);
    return { options, valCount, crop: parsed.value<number>('val-crop') as number, studentArch, scale: s };
  });

  const { options, valCount, crop, studentArch, scale } = prepared;
  if (valCount > 0) {
    const split = await asUsageAsync(() => validationSplit(options.train, { count: valCount, crop, dir: path.join(outDir, 'validation') }));
    options.train = split.train;
    options.val = split.val;
  }
  const recipes = checkStudyOptions(options).map((r) => r.name);
  out(`kds study: ${studentArch} x${scale}, recipes ${recipes.join(', ')}, seeds ${options.seeds.join(', ')}, ${options.steps} steps each; out ${outDir}`);
  out(`  training photographs: ${options.train.length}${options.val ? `, validation crops: ${options.val.names.join(', ')}` : ''}; held out: ${options.test.names.join(', ')}`);
  const result = await study(options);
  out('');
  out(fs.readFileSync(result.files.markdown, 'utf8').trimEnd());
  out('');
  out(`study: ${result.files.markdown}, ${result.files.json}, ${result.files.png}`);
  return 0;
}
