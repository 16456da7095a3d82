// run/create flags for resource limits and security, and the HostConfig fields they become, as
// docker's CLI parses them (opts.MemBytes, MemSwapBytes, NanoCPUs, ParseUlimit, ParseDevice, and
// parseSecurityOpts, which reads a seccomp profile file and sends its JSON content).
import { readFileSync } from 'node:fs';
import { parseUlimit, type Ulimit } from '../runtime/resources.js';
import type { FlagDef } from './flags.js';
import { parseHumanSize } from '../util/human.js';

export const LIMIT_FLAGS: FlagDef[] = [
  { long: 'cap-add', type: 'list', description: 'Add Linux capabilities' },
  { long: 'cap-drop', type: 'list', description: 'Drop Linux capabilities' },
  { long: 'cpu-period', type: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) period' },
  { long: 'cpu-quota', type: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
  { long: 'cpu-shares', short: 'c', type: 'int', description: 'CPU shares (relative weight)' },
  { long: 'cpus', type: 'string', valueName: 'decimal', description: 'Number of CPUs' },
  { long: 'cpuset-cpus', type: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
  { long: 'device', type: 'list', description: 'Add a host device to the container' },
  { long: 'init', type: 'bool', description: 'Run an init inside the container that forwards signals and reaps processes' },
  { long: 'memory', short: 'm', type: 'string', valueName: 'bytes', description: 'Memory limit' },
  { long: 'memory-reservation', type: 'string', valueName: 'bytes', description: 'Memory soft limit' },
  { long: 'memory-swappiness', type: 'int', description: 'Tune container memory swappiness (0 to 100)', default: -1 },
  { long: 'memory-swap', type: 'string', valueName: 'bytes', description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap" },
  { long: 'oom-kill-disable', type: 'bool', description: 'Disable OOM Killer' },
  { long: 'oom-score-adj', type: 'int', description: "Tune host's OOM preferences (-1000 to 1000)" },
  { long: 'pids-limit', type: 'int', description: 'Tune container pids limit (set -1 for unlimited)' },
  { long: 'privileged', type: 'bool', description: 'Give extended privileges to this container' },
  { long: 'read-only', type: 'bool', description: "Mount the container's root filesystem as read only" },
  { long: 'security-opt', type: 'list', description: 'Security Options' },
  { long: 'shm-size', type: 'string', valueName: 'bytes', description: 'Size of /dev/shm' },
  { long: 'ulimit', type: 'list', valueName: 'ulimit', description: 'Ulimit options' },
];

export interface LimitOptions {
  capAdd?: string[];
  capDrop?: string[];
  cpuPeriod?: number;
  cpuQuota?: number;
  cpuShares?: number;
  cpus?: string;
  cpusetCpus?: string;
  device?: string[];
  init?: boolean;
  memory?: string;
  memoryReservation?: string;
  memorySwap?: string;
  memorySwappiness?: number;
  oomKillDisable?: boolean;
  oomScoreAdj?: number;
  pidsLimit?: number;
  privileged?: boolean;
  readOnly?: boolean;
  securityOpt?: string[];
  shmSize?: string;
  ulimit?: string[];
}

/** pflag's wording for a value its type rejects. */
function invalid(value: string, flag: string, why: string): Error {
  return new Error(`invalid argument "${value}" for "${flag}" flag: ${why}`);
}

/** go-units RAMInBytes (parseSize with binary multiples): "512m", "1g", "100KiB", plain bytes. */
export function ramInBytes(v: string): number {
  return parseHumanSize(v, 'binary');
}

function bytesFlag(v: string | undefined, flag: string): number {
  if (v === undefined || v === '') return 0;
  try {
    return ramInBytes(v);
  } catch (err) {
    throw invalid(v, flag, (err as Error).message);
  }
}

/** opts.ParseCPUs: a rational number of CPUs to nano CPUs. */
export function parseCpus(v: string): number {
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i.test(v)) throw invalid(v, '--cpus', `failed to parse ${v} as a rational number`);
  // big.Rat: the value times 1e9 must be a whole number.
  const [mant, exp = '0'] = v.toLowerCase().replace(/^[+-]/, '').split('e');
  const decimals = (mant.split('.')[1] ?? '').replace(/0+$/, '').length - Number(exp);
  if (decimals > 9) throw invalid(v, '--cpus', 'value is too precise');
  return Math.round(Number(v) * 1e9);
}

/** go-units ParseUlimit, with pflag's wording around it. */
export function parseUlimitFlag(v: string): Ulimit {
  try {
    return parseUlimit(v);
  } catch (err) {
    throw invalid(v, '--ulimit', (err as Error).message);
  }
}

/** opts.ParseDevice: "host[:container][:perms]". */
export function parseDeviceFlag(v: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const validMode = (m: string) => m.length > 0 && m.length <= 3 && [...m].every((c, i, a) => 'rwm'.includes(c) && a.indexOf(c) === i);
  const parts = v.split(':');
  let [src, dst, perms] = [parts[0], '', 'rwm'];
  if (parts.length === 3) {
    [src, dst, perms] = parts;
    if (!validMode(perms)) throw invalid(v, '--device', `bad mode specified: ${perms}`);
  } else if (parts.length === 2) {
    if (validMode(parts[1])) perms = parts[1];
    else dst = parts[1];
  } else if (parts.length > 3) {
    throw invalid(v, '--device', `bad format for path: ${v}`);
  }
  dst ||= src;
  if (!dst.startsWith('/')) throw invalid(v, '--device', `bad format for path: ${v}`);
  return { PathOnHost: src, PathInContainer: dst, CgroupPermissions: perms };
}

/** The CLI's parseSecurityOpts: a seccomp profile given by path is sent as its (compacted) JSON. */
export function securityOpts(opts: string[]): string[] {
  return opts.map((opt) => {
    if (opt === 'no-new-privileges') return opt;
    let k: string;
    let val: string;
    if (opt.includes('=')) [k, val] = [opt.slice(0, opt.indexOf('=')), opt.slice(opt.indexOf('=') + 1)];
    else if (opt.includes(':')) [k, val] = [opt.slice(0, opt.indexOf(':')), opt.slice(opt.indexOf(':') + 1)];
    else throw new Error(`Invalid --security-opt: "${opt}"`);
    if (k === 'seccomp' && val !== 'unconfined' && val !== 'builtin') {
      let content: string;
      try {
        content = readFileSync(val, 'utf8');
      } catch (err) {
        throw new Error(`opening seccomp profile (${val}) failed: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'open ' + val + ': no such file or directory' : (err as Error).message}`);
      }
      try {
        return `seccomp=${JSON.stringify(JSON.parse(content))}`;
      } catch (err) {
        throw new Error(`compacting json for seccomp profile (${val}) failed: ${(err as Error).message}`);
      }
    }
    return opt;
  });
}

/** The HostConfig fields these flags set (only what was given, as docker's CLI sends them). */
export function limitsHostConfig(o: LimitOptions): Record<string, unknown> {
  const hc: Record<string, unknown> = {
    CapAdd: o.capAdd?.length ? o.capAdd : null,
    CapDrop: o.capDrop?.length ? o.capDrop : null,
    Privileged: Boolean(o.privileged),
    ReadonlyRootfs: Boolean(o.readOnly),
    SecurityOpt: o.securityOpt?.length ? securityOpts(o.securityOpt) : null,
    Memory: bytesFlag(o.memory, '-m, --memory'),
    MemoryReservation: bytesFlag(o.memoryReservation, '--memory-reservation'),
    MemorySwap: o.memorySwap === '-1' ? -1 : bytesFlag(o.memorySwap, '--memory-swap'),
    NanoCpus: o.cpus ? parseCpus(o.cpus) : 0,
    CpuShares: o.cpuShares ?? 0,
    CpuPeriod: o.cpuPeriod ?? 0,
    CpuQuota: o.cpuQuota ?? 0,
    CpusetCpus: o.cpusetCpus ?? '',
    Devices: (o.device ?? []).map(parseDeviceFlag),
    Ulimits: o.ulimit?.length ? o.ulimit.map(parseUlimitFlag) : null,
    OomScoreAdj: o.oomScoreAdj ?? 0,
    MemorySwappiness: o.memorySwappiness ?? -1,
    OomKillDisable: Boolean(o.oomKillDisable),
  };
  if (o.pidsLimit !== undefined) hc.PidsLimit = o.pidsLimit;
  if (o.shmSize) hc.ShmSize = bytesFlag(o.shmSize, '--shm-size');
  if (o.init) hc.Init = true;
  return hc;
}
