// `kds distill` and `kds train`: build the models and data from the run description, fit with progress,
// checkpoints and a log, then evaluate and write the report.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../atomic-file';
import { datasets, Dataset } from '../data/datasets';
import { upscaleBicubic } from '../data/resize';
import { distributedEnvironment, localRankFromEnv } from '../distributed';
import { evaluate, Evaluation } from '../evaluate';
import { KDS } from '../kds';
import { Model } from '../models';
import { info, manualSeed, setNumThreads } from '../runtime';
import { FitOptions, FitResult } from '../train/fit';
import { readLog } from '../train/log';
import { ReportRow, writeReport } from '../train/report';
import { createSchedule } from '../train/schedule';
import { upscale } from '../upscale';
import { asUsageError } from './args';
import { loadModel, writeSidecar } from './model-spec';
import { RunCommand } from './flags';
import { RunConfig } from './run-config';

export interface RunOutcome {
  result: FitResult;
  evaluation?: { student: Evaluation; teacher?: Evaluation };
  report?: string;
}

/** Turns argument errors found while setting up (before any step) into usage errors (exit code 2). */
async function setup<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw asUsageError(err);
  }
}

/** The crops of the report: bicubic | student | teacher | ground truth on the first validation image. */
async function reportCrops(val: Dataset, student: Model, teacher: Model | undefined) {
  const pair = await val.get(0);
  const panels = [{ label: 'bicubic', image: await upscaleBicubic(pair.lr, val.scale) }, { label: 'student', image: await upscale(student, pair.lr) }];
  if (teacher) panels.push({ label: 'teacher', image: await upscale(teacher, pair.lr) });
  panels.push({ label: 'ground truth', image: pair.hr });
  return { image: val.names[0], panels };
}

/** What a run needs, made from its description before the first step. */
interface Prepared {
  trainSet: Dataset;
  valSet?: Dataset;
  teacher?: { model: Model; arch: string };
  student: Model;
  kds: KDS;
}

function openData(config: RunConfig): { trainSet: Dataset; valSet?: Dataset } {
  const { data } = config;
  const trainSet = datasets.folder(data.train, { scale: data.scale });
  const valSet = data.val !== undefined ? datasets.folder(data.val, { scale: data.scale }) : undefined;
  return { trainSet, valSet };
}

async function loadModels(config: RunConfig): Promise<Pick<Prepared, 'teacher' | 'student'>> {
  const teacher = config.teacher ? await loadModel(config.teacher, config.data.scale, 'teacher') : undefined;
  manualSeed(config.seed); // the student's initial weights
  const student = (await loadModel(config.student, config.data.scale, 'student')).model;
  return { teacher: teacher && { model: teacher.model, arch: teacher.arch }, student };
}

/** The session: device, models, loss, precision, memory format and, when started as a rank, the process group. */
async function createSession(config: RunConfig, teacher: Model | undefined, student: Model): Promise<KDS> {
  const kds = new KDS();
  // A rank on a GPU machine takes the GPU of its local rank, as with torchrun.
  kds.setDevice(config.device === 'cuda' && distributedEnvironment() ? `cuda:${localRankFromEnv()}` : config.device);
  if (teacher) kds.setTeacher(teacher);
  kds.setStudent(student);
  kds.setLoss(config.loss);
  kds.setPrecision(config.precision);
  if (teacher) kds.setTeacherPrecision(config.teacherPrecision);
  if (config.channelsLast) kds.setMemoryFormat('channels_last');
  // Started by --nproc or torchrun: join the other ranks (rank 0's student is broadcast at the first step).
  // On GPUs NCCL reduces the gradients on the device where the build has it; Gloo goes through the host.
  if (distributedEnvironment()) await kds.setDistributed(config.device === 'cuda' && info().nccl ? { backend: 'nccl' } : {});
  return kds;
}

/** Everything before the first step; a bad argument found here is a usage error. */
function prepare(config: RunConfig): Promise<Prepared> {
  return setup(async () => {
    if (config.threads !== undefined) setNumThreads(config.threads);
    createSchedule(config.schedule, config.steps); // schedule errors are usage errors
    const sets = openData(config);
    const models = await loadModels(config);
    const kds = await createSession(config, models.teacher?.model, models.student);
    return { ...sets, ...models, kds };
  });
}

function describeRun(command: RunCommand, config: RunConfig, p: Prepared): string {
  const { data } = config;
  return (
    `kds ${command}: student ${config.student.arch ?? config.student.torchscript} (${p.student.parameterCount} parameters)` +
    (p.kds.worldSize > 1 ? `; ${p.kds.worldSize} data-parallel ranks` : '') +
    (p.teacher ? `, teacher ${p.teacher.arch} (${p.teacher.model.parameterCount} parameters)` : '') +
    `; ${p.trainSet.length} training images, ${p.valSet ? `${p.valSet.length} validation images` : 'no validation'}; ${config.steps} steps of ${data.batchSize} x ${data.patchSize}px; out ${config.out}`
  );
}

function fitOptions(command: RunCommand, config: RunConfig, p: Prepared, signal: AbortSignal): FitOptions {
  const { data } = config;
  return {
    train: p.trainSet,
    val: p.valSet,
    steps: config.steps,
    patchSize: data.patchSize,
    batchSize: data.batchSize,
    augment: data.augment,
    seed: config.seed,
    schedule: config.schedule,
    optimizer: config.optimizer,
    ...(config.ema ? { ema: config.ema } : {}),
    validateEvery: config.validateEvery,
    checkpointEvery: config.checkpointEvery,
    outDir: config.out,
    resume: config.resume,
    signal,
    progress: config.progress,
    meta: { command },
  };
}

/** Runs `fit` with Ctrl-C and SIGTERM wired to its abort signal: once finishes the step and checkpoints, twice quits. */
async function fitUntilStopped(kds: KDS, options: (signal: AbortSignal) => FitOptions, log: (line: string) => void): Promise<FitResult> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts === 1) {
      log('stopping after this step (a checkpoint will be written); press Ctrl-C again to quit at once');
      controller.abort();
    } else process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await setup(() => kds.fit(options(controller.signal)));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Sidecars beside student.pt and best.pt, so later commands know their architecture. */
function writeSidecars(config: RunConfig, result: FitResult): void {
  const arch = config.student.arch;
  if (!arch) return;
  if (result.student) writeSidecar(result.student, arch, config.data.scale);
  const best = path.join(config.out, 'best.pt');
  if (fs.existsSync(best)) writeSidecar(best, arch, config.data.scale);
}

/** The student (and teacher) on the validation photographs, printed as a table. */
async function evaluateRun(config: RunConfig, p: Prepared, valSet: Dataset, log: (line: string) => void) {
  const { scale } = config.data;
  const student = await evaluate(p.student, valSet);
  const teacher = p.teacher ? await evaluate(p.teacher.model, valSet, { bicubic: false }) : undefined;
  const rows: ReportRow[] = [{ name: 'bicubic', psnr: student.bicubic?.psnr ?? NaN, ssim: student.bicubic?.ssim ?? NaN }];
  rows.push({ name: `student ${config.student.arch ?? ''}`.trim(), parameters: p.student.parameterCount, psnr: student.mean.psnr, ssim: student.mean.ssim });
  if (p.teacher && teacher) rows.push({ name: `teacher ${p.teacher.arch}`, parameters: p.teacher.model.parameterCount, psnr: teacher.mean.psnr, ssim: teacher.mean.ssim });
  log(`\n${valSet.name} x${scale} (${valSet.length} images, PSNR/SSIM on Y, border ${scale} shaved):`);
  for (const r of rows) log(`  ${r.name.padEnd(24)} PSNR ${r.psnr.toFixed(3)} dB  SSIM ${r.ssim.toFixed(4)}`);
  return { evaluation: { student, teacher }, rows };
}

/** report.md/.html with the chart, and with validation photographs the table and the crops. */
async function writeRunReport(command: RunCommand, config: RunConfig, p: Prepared, result: FitResult, rows: ReportRow[] | undefined, log: (line: string) => void): Promise<string> {
  const { data } = config;
  const arch = config.student.arch;
  const logFile = readLog(path.join(config.out, 'log.jsonl'));
  const files = p.valSet && rows
    ? await writeReport({
        outDir: config.out,
        title: `kds ${command}: ${arch ?? 'student'} on ${path.basename(path.resolve(data.train))}`,
        runs: [{ label: command === 'distill' ? 'student (distilled)' : 'student', log: logFile }],
        table: { caption: `${p.valSet.name}, x${data.scale}, ${p.valSet.length} images; PSNR and SSIM on Y with ${data.scale} border pixels shaved, after step ${result.step}.`, rows },
        crops: await reportCrops(p.valSet, p.student, p.teacher?.model),
      })
    : await writeReport({ outDir: config.out, title: `kds ${command}: ${arch ?? 'student'}`, runs: [{ label: 'student', log: logFile }] });
  log(`report: ${files.markdown}${p.valSet ? ` (and ${path.basename(files.html)}, ${path.basename(files.chart)}${files.crops ? `, ${path.basename(files.crops)}` : ''})` : ''}`);
  return files.markdown;
}

/** What rank 0 does after fit: sidecars, then (unless stopped) the evaluation and the report. */
async function finish(command: RunCommand, config: RunConfig, p: Prepared, result: FitResult, log: (line: string) => void): Promise<RunOutcome> {
  writeSidecars(config, result);
  if (result.aborted) {
    log(`stopped at step ${result.step}/${config.steps}; continue with the same command and --resume`);
    return { result };
  }
  log(`trained ${result.step - result.startStep} steps in ${result.trainSeconds.toFixed(1)} s (${result.stepsPerSecond.toFixed(2)} steps/s); student saved to ${result.student}`);
  const outcome: RunOutcome = { result };
  const evaluated = p.valSet ? await evaluateRun(config, p, p.valSet, log) : undefined;
  if (evaluated) outcome.evaluation = evaluated.evaluation;
  if (config.report) outcome.report = await writeRunReport(command, config, p, result, evaluated?.rows, log);
  return outcome;
}

export async function runTraining(command: RunCommand, config: RunConfig, log: (line: string) => void): Promise<RunOutcome> {
  const prepared = await prepare(config);
  const { kds } = prepared;
  const root = kds.rank === 0; // in a distributed run only rank 0 writes files and reports
  if (!root) log = () => {};
  fs.mkdirSync(config.out, { recursive: true });
  if (root) writeFileAtomicSync(path.join(config.out, 'run.json'), `${JSON.stringify({ command, ...config }, null, 2)}\n`);
  log(describeRun(command, config, prepared));
  const result = await fitUntilStopped(kds, (signal) => fitOptions(command, config, prepared, signal), log);
  try {
    return root ? await finish(command, config, prepared, result, log) : { result };
  } finally {
    await kds.dispose();
  }
}
