// `kds distill` and `kds train`: build the models and data from the run description, fit with progress,
// checkpoints and a log, then evaluate and write the report.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../atomic-file';
import { datasets, Dataset } from '../data/datasets';
import { upscaleBicubic } from '../data/resize';
import { distributedEnvironment, localRankFromEnv } from '../distributed';
import { KDSError } from '../errors';
import { evaluate, Evaluation } from '../evaluate';
import { KDS } from '../kds';
import { Model } from '../models';
import { info, manualSeed, setNumThreads } from '../runtime';
import { FitResult } from '../train/fit';
import { readLog } from '../train/log';
import { ReportRow, writeReport } from '../train/report';
import { createSchedule } from '../train/schedule';
import { upscale } from '../upscale';
import { UsageError } from './args';
import { loadModel, writeSidecar } from './model-spec';
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
    if (err instanceof KDSError && err.code === 'E_ARG') throw new UsageError(err.message);
    throw err;
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

export async function runTraining(command: 'distill' | 'train', config: RunConfig, log: (line: string) => void): Promise<RunOutcome> {
  const { data } = config;
  const prepared = await setup(async () => {
    if (config.threads !== undefined) setNumThreads(config.threads);
    createSchedule(config.schedule, config.steps); // schedule errors are usage errors
    const trainSet = datasets.folder(data.train, { scale: data.scale });
    const valSet = data.val !== undefined ? datasets.folder(data.val, { scale: data.scale }) : undefined;
    const loadedTeacher = config.teacher ? await loadModel(config.teacher, data.scale, 'teacher') : undefined;
    const teacher = loadedTeacher?.model;
    const teacherArch = loadedTeacher?.arch;
    manualSeed(config.seed); // the student's initial weights
    const student = (await loadModel(config.student, data.scale, 'student')).model;
    const kds = new KDS();
    // A rank on a GPU machine takes the GPU of its local rank, as with torchrun.
    kds.setDevice(config.device === 'cuda' && distributedEnvironment() ? `cuda:${localRankFromEnv()}` : config.device);
    if (teacher) kds.setTeacher(teacher);
    kds.setStudent(student);
    kds.setLoss(config.loss);
    kds.setPrecision(config.precision);
    if (config.channelsLast) kds.setMemoryFormat('channels_last');
    // Started by --nproc or torchrun: join the other ranks (rank 0's student is broadcast at the first step).
    // On GPUs NCCL reduces the gradients on the device where the build has it; Gloo goes through the host.
    if (distributedEnvironment()) await kds.setDistributed(config.device === 'cuda' && info().nccl ? { backend: 'nccl' } : {});
    return { trainSet, valSet, teacher, teacherArch, student, kds };
  });
  const { trainSet, valSet, teacher, teacherArch, student, kds } = prepared;
  const root = kds.rank === 0; // in a distributed run only rank 0 writes files and reports
  if (!root) log = () => {};
  fs.mkdirSync(config.out, { recursive: true });
  if (root) writeFileAtomicSync(path.join(config.out, 'run.json'), `${JSON.stringify({ command, ...config }, null, 2)}\n`);
  log(
    `kds ${command}: student ${config.student.arch ?? config.student.torchscript} (${student.parameterCount} parameters)` +
      (kds.worldSize > 1 ? `; ${kds.worldSize} data-parallel ranks` : '') +
      (teacher ? `, teacher ${teacherArch} (${teacher.parameterCount} parameters)` : '') +
      `; ${trainSet.length} training images, ${valSet ? `${valSet.length} validation images` : 'no validation'}; ${config.steps} steps of ${data.batchSize} x ${data.patchSize}px; out ${config.out}`,
  );

  // Ctrl-C once: finish the step, write a checkpoint, stop. Twice: quit at once.
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
  let result: FitResult;
  try {
    result = await setup(() =>
      kds.fit({
        train: trainSet,
        val: valSet,
        steps: config.steps,
        patchSize: data.patchSize,
        batchSize: data.batchSize,
        augment: data.augment,
        seed: config.seed,
        schedule: config.schedule,
        optimizer: config.optimizer,
        validateEvery: config.validateEvery,
        checkpointEvery: config.checkpointEvery,
        outDir: config.out,
        resume: config.resume,
        signal: controller.signal,
        progress: config.progress,
        meta: { command },
      }),
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const arch = config.student.arch;
  if (!root) {
    await kds.dispose();
    return { result };
  }
  if (arch) {
    if (result.student) writeSidecar(result.student, arch, data.scale);
    if (fs.existsSync(path.join(config.out, 'best.pt'))) writeSidecar(path.join(config.out, 'best.pt'), arch, data.scale);
  }
  if (result.aborted) {
    log(`stopped at step ${result.step}/${config.steps}; continue with the same command and --resume`);
    await kds.dispose();
    return { result };
  }
  log(`trained ${result.step - result.startStep} steps in ${result.trainSeconds.toFixed(1)} s (${result.stepsPerSecond.toFixed(2)} steps/s); student saved to ${result.student}`);

  const outcome: RunOutcome = { result };
  if (valSet) {
    const studentEval = await evaluate(student, valSet);
    const teacherEval = teacher ? await evaluate(teacher, valSet, { bicubic: false }) : undefined;
    outcome.evaluation = { student: studentEval, teacher: teacherEval };
    const rows: ReportRow[] = [{ name: 'bicubic', psnr: studentEval.bicubic?.psnr ?? NaN, ssim: studentEval.bicubic?.ssim ?? NaN }];
    rows.push({ name: `student ${arch ?? ''}`.trim(), parameters: student.parameterCount, psnr: studentEval.mean.psnr, ssim: studentEval.mean.ssim });
    if (teacher && teacherEval) rows.push({ name: `teacher ${teacherArch}`, parameters: teacher.parameterCount, psnr: teacherEval.mean.psnr, ssim: teacherEval.mean.ssim });
    log(`\n${valSet.name} x${data.scale} (${valSet.length} images, PSNR/SSIM on Y, border ${data.scale} shaved):`);
    for (const r of rows) log(`  ${r.name.padEnd(24)} PSNR ${r.psnr.toFixed(3)} dB  SSIM ${r.ssim.toFixed(4)}`);
    if (config.report) {
      const files = await writeReport({
        outDir: config.out,
        title: `kds ${command}: ${arch ?? 'student'} on ${path.basename(path.resolve(data.train))}`,
        runs: [{ label: command === 'distill' ? 'student (distilled)' : 'student', log: readLog(path.join(config.out, 'log.jsonl')) }],
        table: { caption: `${valSet.name}, x${data.scale}, ${valSet.length} images; PSNR and SSIM on Y with ${data.scale} border pixels shaved, after step ${result.step}.`, rows },
        crops: await reportCrops(valSet, student, teacher),
      });
      outcome.report = files.markdown;
      log(`report: ${files.markdown} (and ${path.basename(files.html)}, ${path.basename(files.chart)}${files.crops ? `, ${path.basename(files.crops)}` : ''})`);
    }
  } else if (config.report) {
    const files = await writeReport({
      outDir: config.out,
      title: `kds ${command}: ${arch ?? 'student'}`,
      runs: [{ label: 'student', log: readLog(path.join(config.out, 'log.jsonl')) }],
    });
    outcome.report = files.markdown;
    log(`report: ${files.markdown}`);
  }
  await kds.dispose();
  return outcome;
}
