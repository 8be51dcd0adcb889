// Options of data-parallel training (kds.setDistributed): explicit values, or the variables torchrun and
// `kds distill --nproc` set (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, LOCAL_RANK). Validation lives
// here; the native side only connects.
import type { NativeDistributedOptions } from './addon-types';
import { KDSError } from './errors';
import { checkOptions, intInRange, invalidParameterError, oneOf } from './validate';

export interface DistributedOptions {
  /** This process's rank, 0..worldSize-1. Default: $RANK. */
  rank?: number;
  /** Number of processes. Default: $WORLD_SIZE. */
  worldSize?: number;
  /** Address of rank 0, which serves the rendezvous. Default: $MASTER_ADDR, else '127.0.0.1'. */
  masterAddr?: string;
  /** Port of the rendezvous on rank 0. Default: $MASTER_PORT, else 29500. */
  masterPort?: number;
  /**
   * This process's index on its machine (which GPU it uses: `cuda:${localRank}`). Default: $LOCAL_RANK,
   * else the rank. kds does not use it itself; `kds distill --nproc` picks the device with it.
   */
  localRank?: number;
  /**
   * 'gloo' (default; CPU tensors, CUDA ones through the host) or 'nccl' (on the session's GPU: needs a CUDA
   * build with NCCL, see `info().nccl`, and setDevice('cuda:N') before setDistributed).
   */
  backend?: 'gloo' | 'nccl';
  /**
   * Milliseconds to wait for the other ranks, at the rendezvous and in every step's all-reduce: a rank
   * that died or stopped makes the others fail with E_DIST after at most this long. Default:
   * $KDS_DIST_TIMEOUT_MS, else 60000.
   */
  timeoutMs?: number;
}

const KEYS = ['rank', 'worldSize', 'localRank', 'masterAddr', 'masterPort', 'backend', 'timeoutMs'];

function fromEnv(name: string, env: NodeJS.ProcessEnv): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw.trim())) throw invalidParameterError(`environment variable ${name}`, 'a non-negative integer', raw);
  return Number(raw);
}

// Required: an explicit option or its environment variable.
function integer(value: unknown, name: string, min: number, max: number, source: string): number {
  if (value === undefined) throw new KDSError('E_ARG', `${name} is required: pass { ${name} } or set ${source}`);
  return intInRange(value, name, min, max);
}

/** Explicit options over the environment, checked; every bad value is an E_ARG KDSError. */
export function distributedOptions(
  options: DistributedOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): NativeDistributedOptions & { localRank: number } {
  checkOptions(options, 'distributed options', KEYS);
  const worldSize = integer(options.worldSize ?? fromEnv('WORLD_SIZE', env), 'worldSize', 1, 1 << 20, 'WORLD_SIZE');
  const rank = integer(options.rank ?? fromEnv('RANK', env), 'rank', 0, worldSize - 1, 'RANK');
  const masterAddr = options.masterAddr ?? (env.MASTER_ADDR || '127.0.0.1');
  if (typeof masterAddr !== 'string' || masterAddr.trim() === '' || /\s/.test(masterAddr))
    throw invalidParameterError('masterAddr', 'a host name or IP address', masterAddr);
  const masterPort = integer(options.masterPort ?? fromEnv('MASTER_PORT', env) ?? 29500, 'masterPort', 1, 65535, 'MASTER_PORT');
  const backend = oneOf(options.backend ?? 'gloo', 'backend', ['gloo', 'nccl']);
  const timeoutMs = integer(options.timeoutMs ?? fromEnv('KDS_DIST_TIMEOUT_MS', env) ?? 60000, 'timeoutMs', 1, 2 ** 31 - 1, 'KDS_DIST_TIMEOUT_MS');
  const localRank = integer(options.localRank ?? fromEnv('LOCAL_RANK', env) ?? rank, 'localRank', 0, worldSize - 1, 'LOCAL_RANK');
  return { rank, worldSize, localRank, masterAddr, masterPort, backend, timeoutMs };
}

/** $LOCAL_RANK (0 when unset): which of this machine's GPUs a rank started by --nproc or torchrun uses. */
export function localRankFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return fromEnv('LOCAL_RANK', env) ?? 0;
}

/** Whether the environment describes a distributed run (RANK and WORLD_SIZE set, as torchrun and --nproc do). */
export function distributedEnvironment(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.RANK) && Boolean(env.WORLD_SIZE);
}
