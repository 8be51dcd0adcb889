// A study: several recipes of one student, each trained with several seeds on the same budget, paired by
// seed (same initial weights and the same ordinary batches for every recipe of a seed), scored on
// held-out photographs that training never sees, and compared with scratch by the mean paired difference
// and its 95% interval. Resumable: each finished run leaves result.json and is never trained again; an
// unfinished one continues from its checkpoint.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file';
import { Dataset } from '../data/datasets';
import { KDSError } from '../errors';
import { evaluate, Scores } from '../evaluate';
import { KDS, LossOptions } from '../kds';
import { lossOptions, TeacherPrecision, teacherPrecision } from '../session-options';
import { Model } from '../models';
import { manualSeed } from '../runtime';
import {
  checkOptions, nonEmptyArray, nonNegativeInt, numberInRange, oneOf, optionalFunction, positiveInt, boolean, isPlainObject,
} from '../validate';
import type { FitOptions } from './fit';
import type { ScheduleOptions } from './schedule';
import { pairedInterval } from './stats';
import { writeStudyReport } from './study-report';
import type { RecipeSummary, RunResult, StudyResult } from './study-result';
import { teacherLabelledSource } from './teacher-labelled';

export type { RecipeSummary, RunResult, StudyResult } from './study-result';

/** One way of training the student: a loss (as setLoss takes it) and optionally teacher-labelled data. */
export interface Recipe {
  name: string;
  /** One line for tables. */
  description?: string;
  loss: LossOptions;
  /**
   * Teacher-labelled patches mixed into every batch (see teacherLabelledSource): from the training
   * photographs themselves ('train': data upcycling) or from the study's unlabelled photographs.
   */
  teacherData?: { ratio: number; photos: 'train' | 'unlabelled'; invert?: boolean };
  /** The teacher forward's precision in the training step (KDS.setTeacherPrecision); default 'step' (fp32). */
  teacherPrecision?: TeacherPrecision;
}

/** The recipes `study` knows by name. 'scratch' is the baseline every other recipe is compared with. */
export const RECIPES: Readonly<Record<string, Recipe>> = Object.freeze({
  scratch: { name: 'scratch', description: 'DS only (L1 to ground truth), no teacher', loss: { SA: false, weights: { DS: 1, TS: 0 } } },
  kd: { name: 'kd', description: '0.5 DS + 0.5 TS (L1 to the teacher\'s output)', loss: { SA: false, weights: { DS: 0.5, TS: 0.5 } } },
  ts: { name: 'ts', description: 'TS only: L1 to the teacher\'s output, no ground truth', loss: { SA: false, weights: { DS: 0, TS: 1 } } },
  fakd: { name: 'fakd', description: 'FAKD: 0.5 DS + 0.5 TS + 1 SA at positions 1, 2, 3', loss: { SA: true, positions: [1, 2, 3] } },
  'fakd-ts': {
    name: 'fakd-ts', description: 'TS + 1 SA at positions 1, 2, 3 (FAKD without the ground-truth term)',
    loss: { SA: true, positions: [1, 2, 3], weights: { DS: 0, TS: 1, SA: 1 } },
  },
  'fakd-sa10': {
    name: 'fakd-sa10', description: 'FAKD with the reference scripts\' SA weight 10',
    loss: { SA: true, positions: [1, 2, 3], weights: { DS: 0.5, TS: 0.5, SA: 10 } },
  },
  dukd: {
    name: 'dukd', description: 'kd + half of each batch teacher-labelled patches of the training HR photographs (data upcycling)',
    loss: { SA: false, weights: { DS: 0.5, TS: 0.5 } }, teacherData: { ratio: 0.5, photos: 'train' },
  },
  'dukd-invert': {
    name: 'dukd-invert', description: 'dukd with colour inversion of every second teacher-labelled patch',
    loss: { SA: false, weights: { DS: 0.5, TS: 0.5 } }, teacherData: { ratio: 0.5, photos: 'train', invert: true },
  },
  'ts-bf16-teacher': {
    name: 'ts-bf16-teacher', description: 'ts with the teacher forward in bf16 (needs AVX512-BF16/AMX-BF16 or a GPU)',
    loss: { SA: false, weights: { DS: 0, TS: 1 } }, teacherPrecision: 'bf16',
  },
  'fakd-bf16-teacher': {
    name: 'fakd-bf16-teacher', description: 'fakd with the teacher forward in bf16 (needs AVX512-BF16/AMX-BF16 or a GPU)',
    loss: { SA: true, positions: [1, 2, 3] }, teacherPrecision: 'bf16',
  },
  unlabelled: {
    name: 'unlabelled', description: 'kd + half of each batch teacher-labelled patches of the unlabelled photographs',
    loss: { SA: false, weights: { DS: 0.5, TS: 0.5 } }, teacherData: { ratio: 0.5, photos: 'unlabelled' },
  },
});

export interface StudyOptions {
  teacher: Model;
  /** Makes a fresh student (called after the seed is set, so a seed fixes the initial weights). */
  student: () => Model;
  /** Training photographs (LR/HR pairs). */
  train: Dataset;
  /** A validation split of the training photographs (never the held-out set) for choosing weights. */
  val?: Dataset;
  /** Held-out photographs: every score the study reports is measured here. */
  test: Dataset;
  /** Recipe names (see {@link RECIPES}) or recipes. 'scratch' is added first when missing. */
  recipes: (string | Recipe)[];
  seeds: number[];
  /** Photographs without HR counterparts, for recipes with teacherData.photos 'unlabelled'. */
  unlabelled?: Dataset;
  steps: number;
  batchSize: number;
  patchSize: number;
  schedule?: ScheduleOptions;
  /** What else fit takes, the same for every run: optimizer settings (e.g. clipGradNorm), ema, augment, prefetch. */
  fit?: Partial<Pick<FitOptions, 'optimizer' | 'augment' | 'prefetch' | 'ema'>>;
  /** Validations per run (with val). Default 6. */
  validations?: number;
  /** Which weights the headline compares: 'best' (chosen on val; the default with val) or 'final'. */
  headline?: 'best' | 'final';
  outDir: string;
  /** Keep finished runs and continue unfinished ones (default true); false starts over. */
  resume?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Passed to each fit run, e.g. 'lines'. Default 'none'. */
  progress?: FitOptions['progress'];
  /** Where every run trains (KDS.setDevice): 'cpu' (default), 'cuda' or 'cuda:N'. Scores follow the models. */
  device?: string;
}

const KEYS = [
  'teacher', 'student', 'train', 'val', 'test', 'recipes', 'seeds', 'unlabelled', 'steps', 'batchSize', 'patchSize', 'schedule', 'fit',
  'validations', 'headline', 'outDir', 'resume', 'log', 'progress', 'device',
];

/** Resolves recipe names and checks recipes; 'scratch' comes first. */
export function resolveRecipes(list: unknown, hasUnlabelled: boolean): Recipe[] {
  const recipes = nonEmptyArray(list, 'recipes', (r, name) => {
    if (typeof r === 'string') {
      const known = RECIPES[r];
      if (!known) throw new KDSError('E_ARG', `${name}: unknown recipe '${r}': expected one of ${Object.keys(RECIPES).join(', ')}`);
      return known;
    }
    return checkRecipe(r, name);
  });
  const names = new Set<string>();
  for (const r of recipes) {
    if (names.has(r.name)) throw new KDSError('E_ARG', `recipes: '${r.name}' is listed twice`);
    names.add(r.name);
    if (r.teacherData?.photos === 'unlabelled' && !hasUnlabelled)
      throw new KDSError('E_ARG', `recipe '${r.name}' needs unlabelled photographs (a folder of images): none were given`);
  }
  return names.has('scratch') ? [RECIPES.scratch, ...recipes.filter((r) => r.name !== 'scratch')] : [RECIPES.scratch, ...recipes];
}

function checkRecipe(value: unknown, name: string): Recipe {
  const r = checkOptions(value, name, ['name', 'description', 'loss', 'teacherData', 'teacherPrecision']);
  if (typeof r.name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(r.name))
    throw new KDSError('E_ARG', `${name}.name must be a name of letters, digits, '.', '_' or '-', got ${JSON.stringify(r.name)}`);
  if (!isPlainObject(r.loss)) throw new KDSError('E_ARG', `${name}.loss must be loss options as setLoss takes them`);
  if (r.teacherData !== undefined) {
    const t = checkOptions(r.teacherData, `${name}.teacherData`, ['ratio', 'photos', 'invert']);
    numberInRange(t.ratio, `${name}.teacherData.ratio`, 0, 1);
    oneOf(t.photos, `${name}.teacherData.photos`, ['train', 'unlabelled'] as const);
    if (t.invert !== undefined) boolean(t.invert, `${name}.teacherData.invert`);
  }
  if (r.teacherPrecision !== undefined) teacherPrecision(r.teacherPrecision);
  return r as unknown as Recipe;
}

function usesTeacher(r: Recipe): boolean {
  const loss = lossOptions(r.loss);
  return r.teacherData !== undefined || loss.TS > 0 || loss.features.some((f) => f.weight > 0);
}

/** Checks everything a study needs before any training; returns its recipes, scratch first. */
export function checkStudyOptions(options: StudyOptions): Recipe[] {
  const o = checkOptions(options, 'study', KEYS) as unknown as StudyOptions;
  if (!(o.teacher instanceof Model)) throw new KDSError('E_ARG', 'study: teacher must be a kds Model');
  if (typeof o.student !== 'function') throw new KDSError('E_ARG', 'study: student must be a function that makes a fresh student');
  for (const [key, d] of [['train', o.train], ['test', o.test]] as const)
    if (!(d instanceof Dataset)) throw new KDSError('E_ARG', `study: ${key} must be a kds Dataset`);
  if (o.val !== undefined && !(o.val instanceof Dataset)) throw new KDSError('E_ARG', 'study: val must be a kds Dataset');
  if (o.unlabelled !== undefined && !(o.unlabelled instanceof Dataset)) throw new KDSError('E_ARG', 'study: unlabelled must be a kds Dataset');
  if (o.teacher.scale !== null && o.teacher.scale !== o.train.scale)
    throw new KDSError('E_SHAPE', `study: the teacher upscales x${o.teacher.scale} but the training photographs are x${o.train.scale}`);
  for (const d of [o.val, o.test, o.unlabelled])
    if (d && d.scale !== o.train.scale) throw new KDSError('E_ARG', `study: '${d.name}' is x${d.scale}, the training photographs x${o.train.scale}`);
  const seeds = nonEmptyArray(o.seeds, 'seeds', (s, n) => nonNegativeInt(s, n));
  if (new Set(seeds).size !== seeds.length) throw new KDSError('E_ARG', `seeds must be different, got [${seeds.join(', ')}]`);
  positiveInt(o.steps, 'steps');
  positiveInt(o.batchSize, 'batchSize');
  positiveInt(o.patchSize, 'patchSize');
  positiveInt(o.validations ?? 6, 'validations');
  if (o.headline !== undefined) oneOf(o.headline, 'headline', ['best', 'final'] as const);
  if (typeof o.outDir !== 'string' || o.outDir.length === 0) throw new KDSError('E_ARG', 'study: outDir must be a folder path');
  if (o.resume !== undefined) boolean(o.resume, 'resume');
  optionalFunction(o.log, 'log');
  if (o.fit !== undefined) checkOptions(o.fit, 'study: fit', ['optimizer', 'augment', 'prefetch', 'ema']);
  const recipes = resolveRecipes(o.recipes, o.unlabelled !== undefined);
  // A device, or a teacher precision on it, that this machine cannot run fails now (E_DEVICE), not after
  // hours of other runs.
  const probe = new KDS();
  try {
    if (o.device !== undefined) probe.setDevice(o.device);
    for (const p of new Set(recipes.map((r) => r.teacherPrecision).filter((p) => p !== undefined))) probe.setTeacherPrecision(p);
  } finally {
    void probe.dispose();
  }
  return recipes;
}

/** Trains and scores every recipe with every seed (seed by seed), then compares each recipe with scratch. */
export async function study(options: StudyOptions): Promise<StudyResult> {
  const recipes = checkStudyOptions(options);
  const log = options.log ?? (() => undefined);
  const headline = options.headline ?? (options.val ? 'best' : 'final');
  if (options.resume === false) fs.rmSync(path.join(options.outDir, 'runs'), { recursive: true, force: true });
  fs.mkdirSync(options.outDir, { recursive: true });

  const runs: RunResult[] = [];
  for (const seed of options.seeds) {
    for (const recipe of recipes) {
      const r = await runRecipe(options, recipe, seed, log);
      runs.push(r);
      log(`${recipe.name} seed ${seed}: final ${r.final.psnr.toFixed(3)} dB, best-on-val ${r.best.psnr.toFixed(3)} dB (step ${r.best.step})`);
    }
  }
  const teacherEval = await evaluate(options.teacher, options.test);
  const summaries = recipes.map((r) => summarize(r, runs, options.seeds));
  const result = {
    headline, seeds: [...options.seeds], steps: options.steps, bicubic: teacherEval.bicubic as Scores, teacher: teacherEval.mean,
    recipes: summaries, runs, verdict: verdict(summaries, headline, options.seeds.length),
  };
  const files = await writeStudyReport(options.outDir, result, { test: options.test.names, val: options.val?.names ?? [] });
  return { ...result, files };
}

function runDir(outDir: string, recipe: string, seed: number): string {
  return path.join(outDir, 'runs', recipe, `seed-${seed}`);
}

async function runRecipe(options: StudyOptions, recipe: Recipe, seed: number, log: (line: string) => void): Promise<RunResult> {
  const dir = runDir(options.outDir, recipe.name, seed);
  const resultFile = path.join(dir, 'result.json');
  if (fs.existsSync(resultFile)) {
    log(`${recipe.name} seed ${seed}: finished earlier (${path.relative(process.cwd(), resultFile)})`);
    return JSON.parse(fs.readFileSync(resultFile, 'utf8')) as RunResult;
  }
  fs.mkdirSync(dir, { recursive: true });
  log(`${recipe.name} seed ${seed}: training ${options.steps} steps (${recipe.description ?? ''})`);
  manualSeed(seed); // the same initial weights for every recipe of this seed
  const student = options.student();
  const kds = new KDS();
  try {
    if (options.device !== undefined) kds.setDevice(options.device);
    kds.setStudent(student);
    if (usesTeacher(recipe)) kds.setTeacher(options.teacher);
    if (recipe.teacherPrecision) kds.setTeacherPrecision(recipe.teacherPrecision);
    kds.setLoss(recipe.loss);
    const { batchSize, patchSize } = options;
    const train = recipe.teacherData
      ? teacherLabelledSource(options.train, {
        teacher: options.teacher, photos: recipe.teacherData.photos === 'train' ? options.train : (options.unlabelled as Dataset),
        ratio: recipe.teacherData.ratio, invert: recipe.teacherData.invert, batchSize, patchSize, seed,
      })
      : undefined;
    const validations = options.validations ?? 6;
    const extra = Object.fromEntries(Object.entries(options.fit ?? {}).filter(([, v]) => v !== undefined));
    const fitOptions = {
      ...extra,
      ...(train ? { train } : { train: options.train, batchSize, patchSize, seed }),
      val: options.val, steps: options.steps, schedule: options.schedule,
      validateEvery: options.val ? Math.max(1, Math.floor(options.steps / validations)) : 0,
      checkpointEvery: Math.max(1, Math.floor(options.steps / validations)),
      outDir: dir, resume: true, progress: options.progress ?? 'none',
    } as FitOptions;
    const fitted = await kds.fit(fitOptions);
    const final = await scores(student, options.test);
    let best: RunResult['best'] = { ...final, step: options.steps };
    if (fitted.best && fitted.best.step !== options.steps && fs.existsSync(path.join(dir, 'best.pt'))) {
      const chosen = options.student();
      try {
        await chosen.loadStateDict(path.join(dir, 'best.pt'));
        best = { ...(await scores(chosen, options.test)), step: fitted.best.step };
      } finally {
        chosen.dispose();
      }
    }
    const result: RunResult = { recipe: recipe.name, seed, steps: options.steps, trainSeconds: fitted.trainSeconds, final, best };
    await writeFileAtomic(resultFile, `${JSON.stringify(result, null, 1)}\n`);
    return result;
  } finally {
    await kds.dispose();
    student.dispose();
  }
}

async function scores(model: Model, test: Dataset): Promise<Scores & { images: number[] }> {
  const e = await evaluate(model, test, { bicubic: false });
  return { psnr: e.mean.psnr, ssim: e.mean.ssim, images: e.images.map((i) => i.psnr) };
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function summarize(recipe: Recipe, runs: RunResult[], seeds: number[]): RecipeSummary {
  const mine = seeds.map((s) => runs.find((r) => r.recipe === recipe.name && r.seed === s) as RunResult);
  const base = seeds.map((s) => runs.find((r) => r.recipe === 'scratch' && r.seed === s) as RunResult);
  const avg = (rule: 'final' | 'best'): Scores => ({ psnr: mean(mine.map((r) => r[rule].psnr)), ssim: mean(mine.map((r) => r[rule].ssim)) });
  const summary: RecipeSummary = { recipe: recipe.name, description: recipe.description ?? '', seeds: seeds.length, final: avg('final'), best: avg('best') };
  if (recipe.name !== 'scratch') {
    const diff = (rule: 'final' | 'best') => {
      const psnrPerSeed = mine.map((r, i) => r[rule].psnr - base[i][rule].psnr);
      return { psnr: pairedInterval(psnrPerSeed), ssim: pairedInterval(mine.map((r, i) => r[rule].ssim - base[i][rule].ssim)), psnrPerSeed };
    };
    summary.vsScratch = { final: diff('final'), best: diff('best') };
  }
  return summary;
}

function verdict(summaries: RecipeSummary[], rule: 'best' | 'final', n: number): string {
  const others = summaries.filter((s) => s.vsScratch);
  if (others.length === 0) return 'Only scratch was trained: nothing to compare.';
  const top = others.reduce((a, b) => ((b.vsScratch as NonNullable<RecipeSummary['vsScratch']>)[rule].psnr.mean > (a.vsScratch as NonNullable<RecipeSummary['vsScratch']>)[rule].psnr.mean ? b : a));
  const i = (top.vsScratch as NonNullable<RecipeSummary['vsScratch']>)[rule].psnr;
  const d = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(3)} dB`;
  if (n < 2) return `${top.recipe} minus scratch: ${d(i.mean)} with one seed: no interval, so no claim either way.`;
  const ci = `${d(i.mean)}, 95% interval [${d(i.low)}, ${d(i.high)}] over ${n} seeds (${rule === 'best' ? 'validation-chosen' : 'final'} weights)`;
  if (i.low > 0) return `${top.recipe} beats scratch: ${ci}.`;
  if (i.high < 0) return `Every recipe is below scratch; the best, ${top.recipe}: ${ci}.`;
  return `No recipe is shown to beat scratch: the best, ${top.recipe}, is ${ci}, an interval that includes zero.`;
}
