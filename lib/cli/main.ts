// The `kds` command: distill, train, eval, upscale, study, info. Exit codes: 0 done, 1 failed, 2 bad usage
// (one line saying what was wrong, then the command's usage on stderr), 130 a run stopped by Ctrl-C or
// SIGTERM after writing its checkpoint.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { datasets } from '../data/datasets';
import { KDSError } from '../errors';
import { lazyRequire } from '../lazy-require';
import { evaluate, formatEvaluation } from '../evaluate';
import { getNumThreads, info, setNumThreads } from '../runtime';
import { upscale } from '../upscale';
import { formatFlags, parseArgs, Parsed, UsageError } from './args';
import { CommandName, FlagDecl, flagsFor, RunCommand } from './flags';
import { launch, wantsLaunch } from './launch';
import { loadModel } from './model-spec';
import { runTraining } from './run';
import { runConfig } from './run-config';
import { runStudy } from './study';

interface Command {
  summary: string;
  synopsis: string;
  /** Text after the options in --help. */
  details?: string;
  /** The exit code (or a promise of it), or undefined for 0. */
  run(parsed: Parsed, out: (line: string) => void): number | void | Promise<number | void>;
}

/** Exit code of a run stopped by Ctrl-C or SIGTERM (after writing its checkpoint), as shells report SIGINT. */
const INTERRUPTED = 130;

function noPositionals(parsed: Parsed): void {
  if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument '${parsed.positionals[0]}'`);
}

/** Flags declared `required` and not given (run keys are checked with their config file instead). */
function checkRequired(parsed: Parsed, flags: FlagDecl[]): void {
  for (const f of flags) if (f.required && f.key === undefined && !parsed.flags.has(f.name)) throw new UsageError(`--${f.name} ${f.value} is required`);
}

async function modelFromFlags(parsed: Parsed) {
  const threads = parsed.value<number>('threads');
  if (threads !== undefined) setNumThreads(threads);
  const arch = parsed.value<string>('arch');
  // With --arch and no --scale the model is x2; without --arch the sidecar says.
  const scale = parsed.value<number>('scale') ?? (arch ? 2 : undefined);
  return loadModel({ weights: parsed.value<string>('model'), arch }, scale, 'model');
}

/** The .onnx file to run with ONNX Runtime, or undefined for a LibTorch model. */
function onnxModelPath(parsed: Parsed): string | undefined {
  const file = parsed.value<string>('model');
  const isOnnx = file !== undefined && file.toLowerCase().endsWith('.onnx');
  const runtime = parsed.value<string>('runtime') ?? (isOnnx ? 'onnx' : 'libtorch');
  if (runtime !== 'onnx' && runtime !== 'libtorch') throw new UsageError(`unknown --runtime '${runtime}': expected libtorch or onnx`);
  if (runtime === 'libtorch') {
    if (isOnnx) throw new UsageError(`--model ${file} is an ONNX file: run it with --runtime onnx`);
    return undefined;
  }
  if (!file) throw new UsageError('--model FILE is required');
  if (!isOnnx) throw new UsageError(`--runtime onnx runs an .onnx file (kds export writes one), got --model ${file}`);
  for (const name of ['arch', 'scale', 'threads'])
    if (parsed.flags.has(name)) throw new UsageError(`--${name} does not apply to an .onnx model`);
  return file;
}

function tiling(parsed: Parsed) {
  return { tile: parsed.value<number>('tile'), overlap: parsed.value<number>('overlap') };
}

/** The text after the options of distill and train: an example config, the output, stopping, --nproc. */
function runDetails(command: RunCommand): string {
  const distill = command === 'distill';
  const example = [
    `{ ${distill ? '"teacher": { "arch": "edsr-r8f32", "weights": "teacher.pt" }, ' : ''}"student": { "arch": "edsr-r2f16" },`,
    '  "data": { "train": "photos/train", "val": "photos/eval", "scale": 2, "patchSize": 32, "batchSize": 8 },',
    ...(distill ? ['  "loss": { "SA": true, "weights": { "DS": 0.5, "TS": 0.5, "SA": 1 } },'] : []),
    `  "schedule": { "type": "multistep", "lr": 2e-4 }, "steps": 2000, "seed": 1, "out": "runs/${command}" }`,
  ];
  return `A config file holds the same settings as JSON (flags win), e.g.
${example.map((line) => `  ${line}`).join('\n')}
The output folder gets checkpoint.pt, log.jsonl (one JSON object per step and validation), student.pt
with student.json, best.pt, run.json and, with validation photographs, report.md/report.html with PNGs.
Ctrl-C stops after the current step and writes a checkpoint; --resume continues from it.
--nproc N runs N data-parallel processes (Gloo; NCCL with --device cuda where the build has it; see
docs/distributed.md); with --nnodes, run the same command on every machine with its --node-rank and
node 0's --master-addr.`;
}

async function runCommand(command: RunCommand, parsed: Parsed, out: (line: string) => void): Promise<number> {
  noPositionals(parsed);
  const { result } = await runTraining(command, runConfig(command, parsed.flags), out);
  return result.aborted ? INTERRUPTED : 0;
}

export const COMMANDS: Record<CommandName, Command> = {
  distill: {
    summary: 'distil a teacher into a student with FAKD (DS + TS + SA losses)',
    synopsis: 'kds distill --config run.json | --teacher FILE --train DIR [options]',
    details: runDetails('distill'),
    run: (parsed, out) => runCommand('distill', parsed, out),
  },
  train: {
    summary: 'train a model from scratch on L1 to the ground truth (the baseline for distill)',
    synopsis: 'kds train --config run.json | --train DIR [options]',
    details: runDetails('train'),
    run: (parsed, out) => runCommand('train', parsed, out),
  },
  eval: {
    summary: 'PSNR/SSIM of a model on a folder of photographs, with bicubic beside it',
    synopsis: 'kds eval --model FILE --data DIR [--scale S] [options]',
    async run(parsed, out) {
      noPositionals(parsed);
      const { model, scale } = await modelFromFlags(parsed);
      const s = scale ?? 2;
      const e = await evaluate(model, datasets.folder(parsed.value<string>('data') as string, { scale: s }), { scale: s, ...tiling(parsed) });
      out(parsed.value('json') ? JSON.stringify(e, null, 2) : formatEvaluation(e));
    },
  },
  upscale: {
    summary: 'super-resolve one image with a model',
    synopsis: 'kds upscale --model FILE [options] in.png out.png',
    async run(parsed, out) {
      if (parsed.positionals.length !== 2) throw new UsageError(`upscale needs an input image and an output .png, got ${parsed.positionals.length} argument(s)`);
      const [input, output] = parsed.positionals;
      if (!output.toLowerCase().endsWith('.png')) throw new UsageError(`the output must be a .png file, got '${output}'`);
      const model = onnxModelPath(parsed) ?? (await modelFromFlags(parsed)).model;
      const started = Date.now();
      const sr = await upscale(model, input, output, tiling(parsed));
      out(`${output}: ${sr.shape[3]} x ${sr.shape[2]} (${((Date.now() - started) / 1000).toFixed(2)} s)`);
    },
  },
  study: {
    summary: 'does distillation pay? recipes x seeds, paired by seed, against scratch on held-out photographs',
    synopsis: 'kds study --teacher FILE --train DIR --test DIR [--recipes ts,fakd] [--seeds 1,2,3] [options]',
    details: `Every recipe is trained with every seed (same initial weights and ordinary batches per seed), scored on
the --test photographs, and compared with scratch by the mean paired difference and its 95% interval over
seeds. The output folder gets study.md (the table and a verdict), study.json, study.png and runs/<recipe>/
seed-<s>/ per run. Running the same command again continues a stopped study; see docs/study.md.`,
    run: (parsed, out) => runStudy(parsed, out),
  },
  export: {
    summary: 'write a model for deployment (ONNX, for ONNX Runtime in Node, browsers and edge devices)',
    synopsis: 'kds export --model FILE [--arch ARCH] --format onnx [options] out.onnx',
    details: 'kds writes EDSR, RCAN and SAN itself; a TorchScript model needs python3 with torch and onnx.\n' +
      'Without --height/--width the input is [N, 3, H, W] with N, H and W dynamic. See docs/deployment.md.',
    async run(parsed, out) {
      if (parsed.positionals.length !== 1) throw new UsageError(`export needs one output file, got ${parsed.positionals.length} argument(s)`);
      const format = parsed.value<string>('format') ?? 'onnx';
      if (format !== 'onnx') throw new UsageError(`unknown --format '${format}': kds exports onnx`);
      const [target] = parsed.positionals;
      const height = parsed.value<number>('height');
      const width = parsed.value<number>('width');
      const fixed = height !== undefined || width !== undefined;
      const { model } = await modelFromFlags(parsed);
      const started = Date.now();
      await model.exportOnnx(target, {
        opset: parsed.value<number>('opset'),
        fp16: parsed.value<boolean>('fp16') ?? false,
        ...(fixed ? { dynamicSize: false, height, width } : {}),
      });
      out(`${target}: ${fs.statSync(target).size} bytes (${((Date.now() - started) / 1000).toFixed(2)} s)`);
    },
  },
  info: {
    summary: 'versions, LibTorch location, devices and build flags',
    synopsis: 'kds info [--json]',
    run(parsed, out) {
      noPositionals(parsed);
      const i = info();
      const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
      const addon = lazyRequire<{ path: (dir: string) => string }>('node-gyp-build').path(path.join(__dirname, '..', '..'));
      const report = {
        kds: pkg.version,
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        torch: i.torchVersion,
        libtorch: i.libtorchDir,
        addon,
        cpu: { model: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, threads: getNumThreads(), KDS_NUM_THREADS: process.env.KDS_NUM_THREADS ?? null },
        cuda: { available: i.cudaAvailable, devices: i.cudaDeviceCount, names: i.cudaDevices, cudnnBenchmark: i.cudnnBenchmark },
        teacherPrecisions: i.teacherPrecisions,
        distributed: i.distributed ? 'gloo' : null,
        nccl: i.nccl,
        build: i.parallelInfo.trim(),
      };
      if (parsed.value('json')) {
        out(JSON.stringify(report, null, 2));
        return;
      }
      out(`kds ${report.kds} on node ${report.node} (${report.platform})`);
      out(`LibTorch ${report.torch} at ${report.libtorch}`);
      out(`addon ${report.addon}`);
      out(`CPU: ${report.cpu.model}, ${report.cpu.cores} logical cores, LibTorch threads ${report.cpu.threads}${report.cpu.KDS_NUM_THREADS ? ` (KDS_NUM_THREADS=${report.cpu.KDS_NUM_THREADS})` : ''}`);
      out(`CUDA: ${report.cuda.available ? `${report.cuda.devices} device(s)` : 'not available'}`);
      report.cuda.names.forEach((name, index) => out(`  cuda:${index}: ${name}`));
      const precisions = report.teacherPrecisions;
      out(`teacher precisions (--teacher-precision): cpu ${precisions.cpu.join(', ')}${precisions.cuda.length ? `; cuda:0 ${precisions.cuda.join(', ')}` : ''}`);
      out(`cuDNN autotuning (benchmark): ${report.cuda.cudnnBenchmark ? 'on' : 'off'}${report.cuda.available ? ' (kds fit turns it on for CUDA unless set)' : ''}`);
      out(`distributed: ${report.distributed ? 'c10d with Gloo (--nproc, kds.setDistributed)' : 'not built in (no gloo headers that fit LibTorch at build time)'}`);
      if (report.cuda.names.length || report.nccl) out(`NCCL (GPU collectives): ${report.nccl ? 'built in' : 'not built in (nccl.h was missing at build time)'}`);
      out(`build:\n${report.build.split('\n').map((l) => `  ${l}`).join('\n')}`);
    },
  },
};

function isCommand(name: string | undefined): name is CommandName {
  return name !== undefined && Object.prototype.hasOwnProperty.call(COMMANDS, name);
}

function usage(name?: string): string {
  if (isCommand(name)) {
    const c = COMMANDS[name];
    const options = formatFlags(flagsFor(name));
    return `usage: ${c.synopsis}\n\n${c.summary}\n\noptions:\n${options}${c.details ? `\n\n${c.details}` : ''}`;
  }
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length)) + 2;
  return `usage: kds <command> [options]\n\ncommands:\n${Object.entries(COMMANDS)
    .map(([k, c]) => `  ${k.padEnd(width)}${c.summary}`)
    .join('\n')}\n\nkds <command> --help shows a command's options.`;
}

/** Runs the CLI; resolves to the exit code. Output goes to `out` (stdout) and `err` (stderr). */
export async function main(
  argv: string[],
  // Block bodies: stream.write's boolean must not become the command's exit code.
  out: (line: string) => void = (l) => {
    process.stdout.write(`${l}\n`);
  },
  err: (line: string) => void = (l) => {
    process.stderr.write(`${l}\n`);
  },
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    (name === undefined ? err : out)(usage(topic));
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    out((JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version);
    return 0;
  }
  if (!isCommand(name)) {
    err(`kds: unknown command '${name}'`);
    err(usage());
    return 2;
  }
  const command = COMMANDS[name];
  let parsed: Parsed;
  try {
    parsed = parseArgs(rest, flagsFor(name));
  } catch (e) {
    err(`kds ${name}: ${(e as Error).message}`);
    err(usage(name));
    return 2;
  }
  if (parsed.help) {
    out(usage(name));
    return 0;
  }
  try {
    checkRequired(parsed, flagsFor(name));
    if ((name === 'distill' || name === 'train') && wantsLaunch(parsed)) return await launch(name, rest, parsed, out, err);
    return (await command.run(parsed, out)) ?? 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`kds ${name}: ${e.message}`);
      err(usage(name));
      return 2;
    }
    const code = e instanceof KDSError ? ` [${e.code}]` : '';
    err(`kds ${name}: error${code}: ${(e as Error).message.split('\n')[0]}`);
    if (process.env.KDS_DEBUG) err((e as Error).stack ?? '');
    return 1;
  }
}
