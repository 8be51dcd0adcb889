// `kds distill --nproc N` (and `kds train`): starts N ranks of the same command on this machine, like
// torchrun --nproc-per-node. Each child gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR
// and MASTER_PORT; their output comes back line by line with a "[rank R]" prefix; when one fails the
// others are stopped and the launcher exits with the failing child's code.
import { ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Parsed, UsageError } from './args';
import { FLAGS } from './flags';

/** The launcher's own flags (declared in flags.ts with `launch: true`). */
const LAUNCH_FLAGS = FLAGS.filter((f) => f.launch);

const INTERRUPTED = 130;

/** Milliseconds a stopped child gets to finish (a rank waiting on a dead peer) before it is killed. */
const GRACE_MS = 5000;

export function wantsLaunch(parsed: Parsed): boolean {
  return LAUNCH_FLAGS.some((f) => parsed.flags.has(f.name));
}

/** argv without the launcher's flags (both `--flag value` and `--flag=value`). */
export function withoutLaunchFlags(argv: string[]): string[] {
  const names = new Set(LAUNCH_FLAGS.map((f) => `--${f.name}`));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const [name] = argv[i].split('=', 1);
    if (!names.has(name)) out.push(argv[i]);
    else if (!argv[i].includes('=')) i++;
  }
  return out;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface LaunchPlan {
  nproc: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
}

async function plan(parsed: Parsed): Promise<LaunchPlan> {
  const nproc = parsed.value<number>('nproc') as number;
  const nnodes = parsed.value<number>('nnodes') as number;
  const nodeRank = parsed.value<number>('node-rank') as number;
  if (nproc < 1) throw new UsageError(`--nproc must be at least 1, got ${nproc}`);
  if (nnodes < 1) throw new UsageError(`--nnodes must be at least 1, got ${nnodes}`);
  if (nodeRank < 0 || nodeRank >= nnodes) throw new UsageError(`--node-rank must be in 0..${nnodes - 1}, got ${nodeRank}`);
  if (nnodes > 1 && !parsed.flags.has('master-addr')) throw new UsageError('--nnodes > 1 needs --master-addr (the address of node 0, reachable from every node)');
  const port = parsed.value<number>('master-port');
  if (port !== undefined && (port < 1 || port > 65535)) throw new UsageError(`--master-port must be in 1..65535, got ${port}`);
  if (process.env.RANK !== undefined && process.env.WORLD_SIZE !== undefined)
    throw new UsageError('--nproc inside a distributed run (RANK and WORLD_SIZE are set): launch once, from a plain shell');
  return { nproc, nnodes, nodeRank, masterAddr: parsed.value<string>('master-addr') as string, masterPort: port ?? (nnodes > 1 ? 29500 : await freePort()) };
}

function pipeLines(stream: NodeJS.ReadableStream, prefix: string, write: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
    rl.on('line', (line) => write(`${prefix}${line}`));
    rl.on('close', resolve);
  });
}

/**
 * Runs `command` with `argv` (the launcher's flags taken out) as nproc local ranks; resolves to the exit
 * code: the first failing rank's code (1 for a rank killed by a signal), else 130 when a rank was
 * interrupted (Ctrl-C), else 0.
 */
export async function launch(command: string, argv: string[], parsed: Parsed, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const p = await plan(parsed);
  const worldSize = p.nproc * p.nnodes;
  const bin = path.join(__dirname, '..', '..', 'bin', 'kds.js');
  const childArgv = withoutLaunchFlags(argv);
  // Share the cores between the ranks unless told otherwise (like torchrun's OMP_NUM_THREADS).
  const threads = String(Math.max(1, Math.floor((os.availableParallelism?.() ?? os.cpus().length) / p.nproc)));
  err(`kds ${command}: ${p.nproc} process(es) on node ${p.nodeRank}/${p.nnodes}, world size ${worldSize}, rendezvous ${p.masterAddr}:${p.masterPort}`);

  const children: ChildProcess[] = [];
  let failure: { rank: number; code: number } | undefined;
  let interrupted = false;
  let stopping = false;
  const stopAll = (signal: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  };
  const stopOthers = () => {
    if (stopping) return;
    stopping = true;
    stopAll('SIGTERM');
    setTimeout(() => stopAll('SIGKILL'), GRACE_MS).unref();
  };
  // Ctrl-C reaches the children from the terminal (same process group), so SIGINT is not forwarded (a
  // second one would make them quit without a checkpoint); the launcher only keeps running to report.
  // SIGTERM is usually sent to the launcher alone, so it is passed on.
  const onInt = () => undefined;
  const onTerm = () => stopAll('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);

  const exits: Promise<void>[] = [];
  for (let local = 0; local < p.nproc; local++) {
    const rank = p.nodeRank * p.nproc + local;
    const env = {
      ...process.env,
      RANK: String(rank),
      WORLD_SIZE: String(worldSize),
      LOCAL_RANK: String(local),
      LOCAL_WORLD_SIZE: String(p.nproc),
      MASTER_ADDR: p.masterAddr,
      MASTER_PORT: String(p.masterPort),
      KDS_NUM_THREADS: process.env.KDS_NUM_THREADS ?? threads,
    };
    const child = spawn(process.execPath, [bin, command, ...childArgv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const prefix = `[rank ${rank}] `;
    const streams = Promise.all([pipeLines(child.stdout!, prefix, out), pipeLines(child.stderr!, prefix, err)]);
    exits.push(
      new Promise<void>((resolve) => {
        child.on('error', (e) => {
          err(`${prefix}could not start: ${e.message}`);
          if (!failure) failure = { rank, code: 1 };
          stopOthers();
          resolve();
        });
        child.on('exit', (code, signal) => {
          void streams.then(() => {
            const status = code ?? 1;
            // 130: stopped by Ctrl-C after its checkpoint; the others stop on their own (rank 0 may still be
            // writing), so only a real failure stops them.
            if (status === INTERRUPTED) interrupted = true;
            else if (status !== 0 && !failure) {
              failure = { rank, code: status };
              if (!stopping) err(`kds ${command}: rank ${rank} ${signal ? `was killed by ${signal}` : `exited with code ${status}`}; stopping the other ranks`);
              stopOthers();
            }
            resolve();
          });
        });
      }),
    );
  }
  try {
    await Promise.all(exits);
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
  return failure?.code ?? (interrupted ? INTERRUPTED : 0);
}
