// Resource limits, ulimits and devices from docker's HostConfig: validated at create time with
// dockerd's messages (moby daemon_unix.go verifyPlatformContainerResources, go-units ParseUlimit),
// normalised as dockerd stores them (MemorySwap = 2 x Memory by default), and turned into the OCI
// spec's linux.resources / process.rlimits / linux.devices for runc to enforce through cgroups.
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { HostConfig } from '../containers/model.js';
import { InvalidParameterError } from '../util/errors.js';
import { locateCgroup } from './cgroups.js';
import type { OciDeviceRule, OciSpec, ResourceLimits } from './spec.js';

/** moby linuxMinMemory: 6 MiB. */
export const MIN_MEMORY = 6 * 1024 * 1024;
const MIN_CPU_SHARES = 2;
const MAX_CPU_SHARES = 262144;
/** moby: --cpus becomes a CFS quota over a 100 ms period. */
export const CPU_PERIOD = 100000;

/** go-units ulimitNameMapping: docker's names → RLIMIT_*. */
export const ULIMIT_NAMES: Record<string, string> = {
  core: 'RLIMIT_CORE', cpu: 'RLIMIT_CPU', data: 'RLIMIT_DATA', fsize: 'RLIMIT_FSIZE', locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK', msgqueue: 'RLIMIT_MSGQUEUE', nice: 'RLIMIT_NICE', nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC', rss: 'RLIMIT_RSS', rtprio: 'RLIMIT_RTPRIO', rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING', stack: 'RLIMIT_STACK',
};

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

/** OCI linux.devices entry. */
export interface OciDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

function num(hc: HostConfig, key: string): number {
  const v = hc[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new InvalidParameterError(`json: cannot unmarshal ${typeof v} into Go struct field HostConfig.${key} of type int64`);
  }
  return v;
}

/** go-units ParseUlimit: "name=soft[:hard]". */
export function parseUlimit(val: string): Ulimit {
  const eq = val.indexOf('=');
  if (eq < 0) throw new InvalidParameterError(`invalid ulimit argument: ${val}`);
  const name = val.slice(0, eq);
  if (!(name in ULIMIT_NAMES)) throw new InvalidParameterError(`invalid ulimit type: ${name}`);
  const parts = val.slice(eq + 1).split(':');
  if (parts.length > 2) throw new InvalidParameterError(`too many limit value arguments - ${val.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``);
  const int = (s: string) => {
    if (!/^[+-]?\d+$/.test(s)) throw new InvalidParameterError(`strconv.ParseInt: parsing "${s}": invalid syntax`);
    return Number(s);
  };
  const soft = int(parts[0]);
  const hard = parts.length === 2 ? int(parts[1]) : soft;
  checkUlimit({ Name: name, Soft: soft, Hard: hard });
  return { Name: name, Soft: soft, Hard: hard };
}

function checkUlimit(u: Ulimit): void {
  if (!(u.Name in ULIMIT_NAMES)) throw new InvalidParameterError(`invalid ulimit type: ${u.Name}`);
  if (u.Hard !== -1 && u.Soft > u.Hard) {
    throw new InvalidParameterError(`ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`);
  }
}

/** parsers.ParseUintList: "0-2,4" → set of numbers; invalid text → docker's error. */
export function parseCpuList(list: string): Set<number> {
  const out = new Set<number>();
  if (list === '') return out;
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`invalid format: ${list}`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new Error(`invalid format: ${list}`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  return out;
}

/** v1 needs swap accounting (memory.memsw.*) for a swap limit; v2 always has memory.swap.max. */
function swapLimitSupported(): boolean {
  const loc = locateCgroup('/');
  if (loc.version === 2) return true;
  return loc.controllers.memory !== undefined && existsSync(join(loc.controllers.memory, 'memory.memsw.limit_in_bytes'));
}

function hostCpus(): string {
  for (const p of ['/sys/fs/cgroup/cpuset/cpuset.cpus', '/sys/fs/cgroup/cpuset.cpus.effective', '/sys/devices/system/cpu/online']) {
    try {
      const t = readFileSync(p, 'utf8').trim();
      if (t) return t;
    } catch {
      // next
    }
  }
  return `0-${availableParallelism() - 1}`;
}

/** "rwm" subsets, as the CLI's validDeviceMode. */
function validDeviceMode(mode: string): boolean {
  return mode.length > 0 && mode.length <= 3 && [...mode].every((c, i, a) => 'rwm'.includes(c) && a.indexOf(c) === i);
}

/**
 * Check the HostConfig's resource fields as dockerd does at create and return it as dockerd
 * records it, with the warnings dockerd would give.
 */
export function normaliseResources(hc: HostConfig): { hostConfig: HostConfig; warnings: string[] } {
  const warnings: string[] = [];
  const out: HostConfig = { ...hc };
  const memory = num(hc, 'Memory');
  let swap = num(hc, 'MemorySwap');
  const reservation = num(hc, 'MemoryReservation');
  if (memory < 0) throw new InvalidParameterError('Invalid value: memory can not be negative');
  if (memory !== 0 && memory < MIN_MEMORY) throw new InvalidParameterError('Minimum memory limit allowed is 6MB');
  if (memory > 0 && swap > 0 && swap < memory) throw new InvalidParameterError('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (memory === 0 && swap > 0) throw new InvalidParameterError('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (reservation > 0 && reservation < MIN_MEMORY) throw new InvalidParameterError('Minimum memory reservation allowed is 6MB');
  if (memory > 0 && reservation > 0 && memory < reservation) {
    throw new InvalidParameterError('Minimum memory limit can not be less than memory reservation limit, see usage');
  }
  // moby fixMemorySwappiness: -1 is "not set".
  let swappiness = typeof hc.MemorySwappiness === 'number' && hc.MemorySwappiness !== -1 ? hc.MemorySwappiness : null;
  if (swappiness !== null && locateCgroup('/').version === 2) {
    warnings.push('Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.');
    swappiness = null;
  }
  if (swappiness !== null && (swappiness < 0 || swappiness > 100)) {
    throw new InvalidParameterError(`Invalid value: ${swappiness}, valid memory swappiness range is 0-100`);
  }
  out.MemorySwappiness = swappiness;
  if (hc.OomKillDisable === true && memory === 0) {
    warnings.push('OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.');
  }
  // moby adaptContainerSettings: swap may double the limit unless told otherwise.
  if (memory > 0 && swap === 0) swap = memory * 2;
  if (memory > 0 && swap !== -1 && !swapLimitSupported()) {
    warnings.push('Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.');
    swap = -1;
  }
  out.Memory = memory;
  out.MemorySwap = swap;
  out.MemoryReservation = reservation;

  const nano = num(hc, 'NanoCpus');
  const period = num(hc, 'CpuPeriod');
  const quota = num(hc, 'CpuQuota');
  let shares = num(hc, 'CpuShares');
  if (nano > 0 && period > 0) throw new InvalidParameterError('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (nano > 0 && quota > 0) throw new InvalidParameterError('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  const ncpu = availableParallelism();
  if (nano < 0 || nano > ncpu * 1e9) {
    throw new InvalidParameterError(`Range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`);
  }
  if (period !== 0 && (period < 1000 || period > 1000000)) {
    throw new InvalidParameterError('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  }
  if (quota > 0 && quota < 1000) throw new InvalidParameterError('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  if (shares < 0) throw new InvalidParameterError('invalid CPU shares: must be a positive number');
  if (shares > 0 && shares < MIN_CPU_SHARES) {
    warnings.push(`Changing requested CPUShares of ${shares} to minimum allowed of ${MIN_CPU_SHARES}`);
    shares = MIN_CPU_SHARES;
  } else if (shares > MAX_CPU_SHARES) {
    warnings.push(`Changing requested CPUShares of ${shares} to maximum allowed of ${MAX_CPU_SHARES}`);
    shares = MAX_CPU_SHARES;
  }
  out.NanoCpus = nano;
  out.CpuPeriod = period;
  out.CpuQuota = quota;
  out.CpuShares = shares;

  const cpuset = typeof hc.CpusetCpus === 'string' ? hc.CpusetCpus : '';
  if (cpuset) {
    let wanted: Set<number>;
    try {
      wanted = parseCpuList(cpuset);
    } catch (err) {
      throw new InvalidParameterError(`Invalid value ${cpuset} for cpuset cpus: ${(err as Error).message}`);
    }
    const avail = hostCpus();
    const have = parseCpuList(avail);
    if ([...wanted].some((c) => !have.has(c))) {
      throw new InvalidParameterError(`Requested CPUs are not available - requested ${cpuset}, available: ${avail}`);
    }
  }
  out.CpusetCpus = cpuset;

  // API >= 1.40: 0 and -1 both mean unlimited, recorded as null.
  const pids = hc.PidsLimit;
  if (pids !== undefined && pids !== null && (typeof pids !== 'number' || !Number.isInteger(pids))) {
    throw new InvalidParameterError(`json: cannot unmarshal ${typeof pids} into Go struct field Resources.HostConfig.PidsLimit of type int64`);
  }
  out.PidsLimit = typeof pids === 'number' && pids > 0 ? pids : null;

  const oomScore = num(hc, 'OomScoreAdj');
  if (oomScore < -1000 || oomScore > 1000) throw new InvalidParameterError(`Invalid value ${oomScore}, range for oom score adj is [-1000, 1000]`);
  const shm = num(hc, 'ShmSize');
  if (shm < 0) throw new InvalidParameterError('SHM size can not be less than 0');

  const ulimits = hc.Ulimits;
  if (ulimits !== undefined && ulimits !== null) {
    if (!Array.isArray(ulimits)) throw new InvalidParameterError('json: cannot unmarshal Ulimits: expected an array');
    for (const u of ulimits as Ulimit[]) {
      if (typeof u?.Name !== 'string' || typeof u.Soft !== 'number' || typeof u.Hard !== 'number') {
        throw new InvalidParameterError('json: cannot unmarshal Ulimits: each needs Name, Soft and Hard');
      }
      checkUlimit(u);
    }
  }
  const devices = hc.Devices;
  if (devices !== undefined && devices !== null) {
    if (!Array.isArray(devices)) throw new InvalidParameterError('json: cannot unmarshal Devices: expected an array');
    for (const d of devices as DeviceMapping[]) devicesFor(d);
  }
  return { hostConfig: out, warnings };
}

/** ResourceLimits for buildSpec from a normalised HostConfig. */
export function resourceLimits(hc: HostConfig): ResourceLimits {
  const nano = (hc.NanoCpus as number | undefined) ?? 0;
  const r: ResourceLimits = {
    memory: (hc.Memory as number | undefined) || undefined,
    memorySwap: (hc.MemorySwap as number | undefined) || undefined,
    memoryReservation: (hc.MemoryReservation as number | undefined) || undefined,
    cpuShares: (hc.CpuShares as number | undefined) || undefined,
    cpuQuota: (hc.CpuQuota as number | undefined) || undefined,
    cpuPeriod: (hc.CpuPeriod as number | undefined) || undefined,
    cpusetCpus: (hc.CpusetCpus as string | undefined) || undefined,
    pids: typeof hc.PidsLimit === 'number' && hc.PidsLimit > 0 ? hc.PidsLimit : undefined,
  };
  if (nano > 0) {
    r.cpuPeriod = CPU_PERIOD;
    r.cpuQuota = Math.trunc((nano * CPU_PERIOD) / 1e9);
  }
  return r;
}

function deviceNode(path: string, inContainer: string): OciDevice | undefined {
  const st = statSync(path);
  if (!st.isCharacterDevice() && !st.isBlockDevice()) return undefined;
  const rdev = st.rdev;
  return {
    path: inContainer,
    type: st.isCharacterDevice() ? 'c' : 'b',
    major: Math.floor(rdev / 256) & 0xfff,
    minor: (rdev & 0xff) | (Math.floor(rdev / 4096) & 0xfff00),
    fileMode: st.mode & 0o777,
    uid: st.uid,
    gid: st.gid,
  };
}

/** The nodes and cgroup rules for one --device (a directory maps every device below it). */
export function devicesFor(d: DeviceMapping): { nodes: OciDevice[]; rules: OciDeviceRule[] } {
  const perms = d.CgroupPermissions || 'rwm';
  if (!validDeviceMode(perms)) throw new InvalidParameterError(`invalid device mode: ${perms}`);
  let st;
  try {
    st = statSync(d.PathOnHost);
  } catch (err) {
    throw new InvalidParameterError(
      `error gathering device information while adding custom device "${d.PathOnHost}": ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
    );
  }
  const nodes: OciDevice[] = [];
  if (st.isDirectory()) {
    const walk = (dir: string, rel: string) => {
      for (const name of readdirSync(dir)) {
        const full = join(dir, name);
        const l = lstatSync(full);
        if (l.isDirectory()) walk(full, join(rel, name));
        else if (l.isCharacterDevice() || l.isBlockDevice()) nodes.push(deviceNode(full, join(d.PathInContainer || d.PathOnHost, rel, name))!);
      }
    };
    walk(d.PathOnHost, '');
  } else {
    const n = deviceNode(d.PathOnHost, d.PathInContainer || d.PathOnHost);
    if (!n) throw new InvalidParameterError(`error gathering device information while adding custom device "${d.PathOnHost}": not a device node`);
    nodes.push(n);
  }
  return { nodes, rules: nodes.map((n) => ({ allow: true, type: n.type, major: n.major, minor: n.minor, access: perms })) };
}

/** runc creates these itself; every other host device goes to a privileged container. */
const RUNC_DEFAULT_DEVICES = new Set(['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/console', '/dev/ptmx']);

/** What --privileged maps: every device node of the host's /dev (runc's HostDevices walk). */
export function hostDevices(): OciDevice[] {
  const out: OciDevice[] = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const full = join(dir, name);
      try {
        const l = lstatSync(full);
        if (l.isDirectory()) {
          if (!['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev'].includes(name)) walk(full);
        } else if ((l.isCharacterDevice() || l.isBlockDevice()) && !RUNC_DEFAULT_DEVICES.has(full)) {
          const n = deviceNode(full, full);
          if (n) out.push(n);
        }
      } catch {
        // vanished
      }
    }
  };
  walk('/dev');
  return out;
}

/** The path of docker's init binary on this host (tini, statically linked, as docker-init is). */
export function initBinary(): string {
  for (const p of ['/usr/bin/docker-init', '/usr/bin/tini-static', '/usr/local/bin/docker-init', '/usr/bin/tini']) {
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // next
    }
  }
  throw new InvalidParameterError('failed to find docker-init binary (tini): install the tini package');
}

export const INIT_PATH = '/sbin/docker-init';

/**
 * Apply what buildSpec does not know: swappiness and OOM-killer switch, --ulimit (replacing the default of the same type),
 * --device nodes and rules, privileged host devices, and --init (tini as PID 1).
 */
export function applyHostConfig(spec: OciSpec, hc: HostConfig): void {
  if (typeof hc.MemorySwappiness === 'number' && hc.MemorySwappiness >= 0) {
    spec.linux.resources.memory = { ...spec.linux.resources.memory, swappiness: hc.MemorySwappiness };
  }
  if (hc.OomKillDisable === true) spec.linux.resources.memory = { ...spec.linux.resources.memory, disableOOMKiller: true };
  for (const u of (hc.Ulimits as Ulimit[] | null | undefined) ?? []) {
    const type = ULIMIT_NAMES[u.Name];
    spec.process.rlimits = spec.process.rlimits.filter((r) => r.type !== type);
    spec.process.rlimits.push({ type, soft: u.Soft, hard: u.Hard });
  }
  const devices: OciDevice[] = [];
  if (hc.Privileged) devices.push(...hostDevices());
  for (const d of (hc.Devices as DeviceMapping[] | null | undefined) ?? []) {
    const { nodes, rules } = devicesFor(d);
    devices.push(...nodes);
    if (!hc.Privileged) spec.linux.resources.devices.push(...rules);
  }
  // One node per path: a --device given with --privileged replaces the host's node of that path.
  const byPath = new Map(devices.map((d) => [d.path, d]));
  if (byPath.size > 0) (spec.linux as OciSpec['linux'] & { devices?: OciDevice[] }).devices = [...byPath.values()];
  if (hc.Init === true) {
    spec.process.args = [INIT_PATH, '--', ...spec.process.args];
    spec.mounts.push({ destination: INIT_PATH, type: 'bind', source: initBinary(), options: ['bind', 'ro'] });
  }
}

/** config.json text: an rlimit of -1 (docker's "unlimited") is RLIM_INFINITY, a uint64 JSON can't hold as a JS number. */
export function specJson(spec: OciSpec): string {
  return JSON.stringify(spec).replace(/"(hard|soft)":-1(?=[,}])/g, '"$1":18446744073709551615');
}
