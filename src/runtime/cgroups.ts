// Reading a container's cgroup: where it is (cgroup v1 per-controller hierarchies or the v2
// unified one, found from /proc/self/mountinfo as runc finds them), its usage counters for
// `docker stats`, and whether the kernel OOM-killed something in it.
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, posix } from 'node:path';

/** The cgroup runc puts a container in: the linux.cgroupsPath ContainerManager gives buildSpec. */
export function containerCgroupsPath(id: string): string {
  return `/berth/${id}`;
}

export interface CgroupMount {
  mountPoint: string;
  /** The cgroup this mount shows at its top ("/" unless the host is itself in a cgroup namespace). */
  root: string;
  version: 1 | 2;
  /** v1: the controllers of this hierarchy (cpu, cpuacct, memory ...). */
  controllers: string[];
}

const unescapeMountinfo = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

const V1_CONTROLLERS = new Set([
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio', 'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc',
]);

/** The cgroup mounts listed in a mountinfo text (proc(5)). */
export function parseMountinfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const [fstype, , superOpts = ''] = line.slice(sep + 3).split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const controllers = fstype === 'cgroup' ? superOpts.split(',').filter((o) => V1_CONTROLLERS.has(o)) : [];
    out.push({ mountPoint: unescapeMountinfo(pre[4]), root: unescapeMountinfo(pre[3]), version: fstype === 'cgroup2' ? 2 : 1, controllers });
  }
  return out;
}

export interface CgroupLocation {
  version: 1 | 2;
  /** v2: the container's directory. */
  dir?: string;
  /** v1: the container's directory per controller. */
  controllers: Record<string, string>;
}

/** Unified (v2) when /sys/fs/cgroup itself is cgroup2; hybrid and legacy hosts are v1 for runc. */
export function cgroupVersion(mounts: CgroupMount[]): 1 | 2 {
  return mounts.some((m) => m.version === 2 && m.mountPoint === '/sys/fs/cgroup') ? 2 : 1;
}

function under(mount: CgroupMount, cgroupPath: string): string {
  const rel = posix.relative(mount.root, cgroupPath);
  return join(mount.mountPoint, rel.startsWith('..') ? cgroupPath : rel);
}

/** Where the cgroup `cgroupPath` (absolute, as in the OCI spec) lives on this host. */
export function locateCgroup(cgroupPath: string, mounts: CgroupMount[] = hostMounts()): CgroupLocation {
  const version = cgroupVersion(mounts);
  if (version === 2) {
    const m = mounts.find((x) => x.version === 2 && x.mountPoint === '/sys/fs/cgroup')!;
    return { version, dir: under(m, cgroupPath), controllers: {} };
  }
  const controllers: Record<string, string> = {};
  for (const m of mounts) {
    if (m.version !== 1) continue;
    for (const c of m.controllers) controllers[c] ??= under(m, cgroupPath);
  }
  return { version, controllers };
}

let mountsCache: CgroupMount[] | undefined;
function hostMounts(): CgroupMount[] {
  mountsCache ??= parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  return mountsCache;
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

/** One reading of a container's cgroup, in docker's units (nanoseconds, bytes). */
export interface CgroupSample {
  cpu: {
    total: number;
    percpu?: number[];
    user: number;
    kernel: number;
    periods: number;
    throttledPeriods: number;
    throttledTime: number;
  };
  memory: { usage: number; maxUsage?: number; failcnt?: number; limit: number; stats: Record<string, number> };
  pids: { current: number; limit: number };
  blkio: BlkioEntry[];
}

async function text(path: string | undefined): Promise<string> {
  if (!path) return '';
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

async function int(path: string | undefined): Promise<number> {
  const t = (await text(path)).trim();
  if (t === '' || t === 'max') return 0;
  const n = Number(t);
  return Number.isFinite(n) ? n : 0;
}

/** "key value" lines (memory.stat, cpu.stat, memory.events...). */
export function parseFlatKeyed(t: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of t.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** v1 blkio.throttle.io_service_bytes_recursive: "8:0 Read 4096" lines and a "Total N" line. */
export function parseBlkioV1(t: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of t.split('\n')) {
    const m = /^(\d+):(\d+)\s+(\S+)\s+(\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3], value: Number(m[4]) });
  }
  return out;
}

/** v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 ..." → docker's read/write byte entries. */
export function parseIoStatV2(t: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of t.split('\n')) {
    const [dev, ...fields] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!m) continue;
    const kv = Object.fromEntries(fields.map((f) => f.split('=')).map(([k, v]) => [k, Number(v)]));
    out.push({ major: Number(m[1]), minor: Number(m[2]), op: 'read', value: kv.rbytes ?? 0 });
    out.push({ major: Number(m[1]), minor: Number(m[2]), op: 'write', value: kv.wbytes ?? 0 });
  }
  return out;
}

/** USER_HZ: cpuacct.stat counts in these ticks. */
const CLOCK_TICKS = 100;

/** A memory limit of "no limit" (v1's huge page-rounded max, v2's "max") becomes the host's memory, as dockerd reports it. */
function effectiveLimit(limit: number): number {
  const host = totalmem();
  return limit <= 0 || limit > host ? host : limit;
}

export async function readCgroupStats(loc: CgroupLocation): Promise<CgroupSample> {
  if (loc.version === 2) {
    const d = loc.dir!;
    const [cpuStat, memCurrent, memMax, memStat, pidsCur, pidsMax, io] = await Promise.all([
      text(join(d, 'cpu.stat')), int(join(d, 'memory.current')), int(join(d, 'memory.max')), text(join(d, 'memory.stat')),
      int(join(d, 'pids.current')), int(join(d, 'pids.max')), text(join(d, 'io.stat')),
    ]);
    const c = parseFlatKeyed(cpuStat);
    return {
      cpu: {
        total: (c.usage_usec ?? 0) * 1000,
        user: (c.user_usec ?? 0) * 1000,
        kernel: (c.system_usec ?? 0) * 1000,
        periods: c.nr_periods ?? 0,
        throttledPeriods: c.nr_throttled ?? 0,
        throttledTime: (c.throttled_usec ?? 0) * 1000,
      },
      memory: { usage: memCurrent, limit: effectiveLimit(memMax), stats: parseFlatKeyed(memStat) },
      pids: { current: pidsCur, limit: pidsMax },
      blkio: parseIoStatV2(io),
    };
  }
  const k = loc.controllers;
  const [usage, percpu, acctStat, cpuStat, memUsage, memMaxUsage, memFail, memLimit, memStat, pidsCur, pidsMax, blkio] = await Promise.all([
    int(k.cpuacct && join(k.cpuacct, 'cpuacct.usage')),
    text(k.cpuacct && join(k.cpuacct, 'cpuacct.usage_percpu')),
    text(k.cpuacct && join(k.cpuacct, 'cpuacct.stat')),
    text(k.cpu && join(k.cpu, 'cpu.stat')),
    int(k.memory && join(k.memory, 'memory.usage_in_bytes')),
    int(k.memory && join(k.memory, 'memory.max_usage_in_bytes')),
    int(k.memory && join(k.memory, 'memory.failcnt')),
    int(k.memory && join(k.memory, 'memory.limit_in_bytes')),
    text(k.memory && join(k.memory, 'memory.stat')),
    int(k.pids && join(k.pids, 'pids.current')),
    int(k.pids && join(k.pids, 'pids.max')),
    text(k.blkio && join(k.blkio, 'blkio.throttle.io_service_bytes_recursive')),
  ]);
  const acct = parseFlatKeyed(acctStat);
  const c = parseFlatKeyed(cpuStat);
  const perTick = 1e9 / CLOCK_TICKS;
  return {
    cpu: {
      total: usage,
      percpu: percpu.trim() ? percpu.trim().split(/\s+/).map(Number) : undefined,
      user: (acct.user ?? 0) * perTick,
      kernel: (acct.system ?? 0) * perTick,
      periods: c.nr_periods ?? 0,
      throttledPeriods: c.nr_throttled ?? 0,
      throttledTime: c.throttled_time ?? 0,
    },
    memory: { usage: memUsage, maxUsage: memMaxUsage, failcnt: memFail, limit: effectiveLimit(memLimit), stats: parseFlatKeyed(memStat) },
    pids: { current: pidsCur, limit: pidsMax },
    blkio: parseBlkioV1(blkio),
  };
}

/** OOM kills the kernel counted in the cgroup: v1 memory.oom_control, v2 memory.events. */
export async function oomKillCount(loc: CgroupLocation): Promise<number> {
  const file = loc.version === 2 ? join(loc.dir!, 'memory.events') : loc.controllers.memory && join(loc.controllers.memory, 'memory.oom_control');
  return parseFlatKeyed(await text(file)).oom_kill ?? 0;
}

/** Host CPU time in nanoseconds from /proc/stat's first line, as dockerd's getSystemCPUUsage. */
export function parseSystemCpuUsage(procStat: string): number {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return 0;
  const fields = line.trim().split(/\s+/).slice(1, 8).map(Number);
  return (fields.reduce((a, b) => a + b, 0) * 1e9) / CLOCK_TICKS;
}

export async function systemCpuUsage(): Promise<number> {
  return parseSystemCpuUsage(await text('/proc/stat'));
}

export function onlineCpus(): number {
  return cpus().length;
}

export interface NetDev {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

/** /proc/<pid>/net/dev: the container's interfaces (its network namespace), loopback left out as docker does. */
export function parseNetDev(t: string): Record<string, NetDev> {
  const out: Record<string, NetDev> = {};
  for (const line of t.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === 'lo') continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    out[name] = {
      rx_bytes: f[0], rx_packets: f[1], rx_errors: f[2], rx_dropped: f[3],
      tx_bytes: f[8], tx_packets: f[9], tx_errors: f[10], tx_dropped: f[11],
    };
  }
  return out;
}

export async function readNetDev(pid: number): Promise<Record<string, NetDev>> {
  return pid > 0 ? parseNetDev(await text(`/proc/${pid}/net/dev`)) : {};
}
