// OCI runtime spec (config.json) for a container, with Docker's defaults: capabilities, mounts,
// masked and read-only /proc paths, device rules, rlimits, sysctls and the default seccomp profile.
// Where Docker's behaviour is not obvious the moby function it mirrors is named.
import { existsSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { assetPath } from '../util/assets.js';
import { join } from 'node:path';
import { InvalidParameterError } from '../util/errors.js';

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface OciCapabilities {
  bounding?: string[];
  effective?: string[];
  permitted?: string[];
  inheritable?: string[];
  ambient?: string[];
}

export interface OciDeviceRule {
  allow: boolean;
  type?: 'a' | 'b' | 'c';
  major?: number;
  minor?: number;
  access?: string;
}

export interface OciResources {
  devices: OciDeviceRule[];
  memory?: { limit?: number; reservation?: number; swap?: number; swappiness?: number; disableOOMKiller?: boolean };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
  pids?: { limit: number };
}

export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[]; umask?: number };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: OciCapabilities;
    rlimits: Array<{ type: string; hard: number; soft: number }>;
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  linux: {
    namespaces: Array<{ type: string; path?: string }>;
    cgroupsPath?: string;
    resources: OciResources;
    sysctl?: Record<string, string>;
    maskedPaths: string[];
    readonlyPaths: string[];
    seccomp?: SeccompProfile;
  };
}

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface SeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[];
}

/** OCI `linux.seccomp`. */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  flags?: string[];
  syscalls: SeccompRule[];
}

/** moby's seccomp profile format (what `--security-opt seccomp=file.json` takes). */
export interface DockerSeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: Array<{ architecture: string; subArchitectures: string[] | null }> | null;
  flags?: string[];
  syscalls?: Array<{
    name?: string;
    names?: string[];
    action: string;
    errnoRet?: number;
    args?: SeccompArg[] | null;
    includes?: SeccompFilter;
    excludes?: SeccompFilter;
  }>;
}

interface SeccompFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface UserIds {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** The user's home from /etc/passwd, for HOME. */
  home?: string;
}

export interface ResourceLimits {
  /** Bytes. */
  memory?: number;
  /** docker's MemorySwap: memory + swap in bytes; -1 unlimited; unset/0 means twice `memory`. */
  memorySwap?: number;
  memoryReservation?: number;
  pids?: number;
  cpuShares?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  cpusetCpus?: string;
}

export interface SpecInput {
  rootfsPath: string;
  args: string[];
  env: string[];
  cwd: string;
  user: UserIds;
  hostname: string;
  terminal: boolean;
  readonlyRootfs?: boolean;
  /** Names with or without `CAP_`, any case; `ALL` as docker allows. */
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  noNewPrivileges?: boolean;
  /** 'default' (Docker's profile), 'unconfined', or a profile in moby's format. */
  seccompProfile?: 'default' | 'unconfined' | DockerSeccompProfile;
  /** Join this network namespace; otherwise the container gets a new one. */
  netnsPath?: string;
  /** `--network host`: no network namespace at all (netnsPath is ignored). */
  hostNetwork?: boolean;
  cgroupsPath: string;
  /** Extra mounts (volumes, binds, tmpfs); one on a default's destination replaces the default. */
  mounts?: OciMount[];
  resources?: ResourceLimits;
  /** /dev/shm size in bytes (docker's ShmSize, default 64 MiB). */
  shmSize?: number;
  sysctls?: Record<string, string>;
  oomScoreAdj?: number;
  etcHostsPath?: string;
  resolvConfPath?: string;
  hostnamePath?: string;
}

/** Docker's default capability set (moby oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Every capability by number (linux/capability.h); the kernel's cap_last_cap cuts the list. */
const CAPABILITY_NAMES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

export const MASKED_PATHS: readonly string[] = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
export const READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What docker asks for; clamped by hostNofileLimit() when berthd cannot raise its own hard limit. */
const DOCKER_NOFILE = 1048576;

/** Capabilities this kernel knows (moby caps.GetAllCapabilities). */
export function allCapabilities(): string[] {
  let last = CAPABILITY_NAMES.length - 1;
  try {
    last = Math.min(last, parseInt(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'), 10));
  } catch {
    // keep the full list
  }
  // Only what berthd's own bounding set holds: a sandboxed root (this machine lacks
  // CAP_SYS_RESOURCE) cannot hand out more, and runc would fail applying the set.
  let bounding = -1n;
  try {
    const hex = /^CapBnd:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (hex) bounding = BigInt(`0x${hex}`);
  } catch {
    // keep every capability the kernel knows
  }
  return CAPABILITY_NAMES.slice(0, last + 1).filter((_c, i) => ((bounding >> BigInt(i)) & 1n) === 1n);
}

function normaliseCap(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!CAPABILITY_NAMES.includes(full)) throw new InvalidParameterError(`unknown capability: "${full}"`);
  return full;
}

/** The effective capability list for the options (moby caps.TweakCapabilities). */
export function effectiveCapabilities(o: { capAdd?: string[]; capDrop?: string[]; privileged?: boolean }): string[] {
  if (o.privileged) return allCapabilities();
  const adds = (o.capAdd ?? []).map(normaliseCap);
  const drops = (o.capDrop ?? []).map(normaliseCap);
  if (adds.length === 0 && drops.length === 0) return [...DEFAULT_CAPABILITIES];
  let caps: string[];
  if (adds.includes('ALL')) caps = allCapabilities().filter((c) => !drops.includes(c));
  else if (drops.includes('ALL')) caps = adds;
  else caps = [...DEFAULT_CAPABILITIES.filter((c) => !drops.includes(c)), ...adds];
  return [...new Set(caps)];
}

interface HostLimits {
  hasSysResource: boolean;
  nofileHard: number;
  cgroupV2: boolean;
}
let hostLimits: HostLimits | undefined;

/**
 * What this host lets runc do. A sandboxed "root" may lack CAP_SYS_RESOURCE (this machine does):
 * then runc cannot raise RLIMIT_NOFILE above berthd's own hard limit and the create fails.
 */
function host(): HostLimits {
  if (hostLimits) return hostLimits;
  let hasSysResource = true;
  let nofileHard = DOCKER_NOFILE;
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const capEff = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1];
    if (capEff) hasSysResource = ((BigInt(`0x${capEff}`) >> 24n) & 1n) === 1n;
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const hard = /^Max open files\s+\S+\s+(\S+)/m.exec(limits)?.[1];
    if (hard && hard !== 'unlimited') nofileHard = parseInt(hard, 10);
  } catch {
    // keep docker's values
  }
  const cgroupV2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
  hostLimits = { hasSysResource, nofileHard, cgroupV2 };
  return hostLimits;
}

function defaultMounts(o: { privileged: boolean; shmSize: number }): OciMount[] {
  // moby oci.DefaultLinuxSpec + WithMounts: privileged containers get /sys and its cgroups writable.
  const sysRo = o.privileged ? [] : ['ro'];
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...sysRo] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: [...sysRo, 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${o.shmSize}`] },
  ];
}

/** moby oci.DefaultLinuxSpec's device rules: deny all, allow the standard char devices. */
function defaultDeviceRules(privileged: boolean): OciDeviceRule[] {
  if (privileged) return [{ allow: true, access: 'rwm' }];
  return [
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
    { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
    { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
    { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
    { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
    { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // /dev/console
    { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
    { allow: true, type: 'c', major: 136, access: 'rwm' }, // /dev/pts/*
    { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
    { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' }, // /dev/net/tun
  ];
}

function buildResources(privileged: boolean, r: ResourceLimits | undefined): OciResources {
  const out: OciResources = { devices: defaultDeviceRules(privileged) };
  if (!r) return out;
  if (r.memory || r.memoryReservation) {
    out.memory = {};
    if (r.memory) {
      out.memory.limit = r.memory;
      // docker: MemorySwap unset (0) means swap may double the limit; -1 means unlimited.
      const swap = r.memorySwap === undefined || r.memorySwap === 0 ? r.memory * 2 : r.memorySwap;
      out.memory.swap = swap;
    }
    if (r.memoryReservation) out.memory.reservation = r.memoryReservation;
  }
  if (r.cpuShares || r.cpuQuota || r.cpuPeriod || r.cpusetCpus) {
    out.cpu = {};
    if (r.cpuShares) out.cpu.shares = r.cpuShares;
    if (r.cpuQuota) out.cpu.quota = r.cpuQuota;
    if (r.cpuPeriod) out.cpu.period = r.cpuPeriod;
    if (r.cpusetCpus) out.cpu.cpus = r.cpusetCpus;
  }
  if (r.pids !== undefined && r.pids !== 0) out.pids = { limit: r.pids };
  return out;
}

/** True when `path` is `dir` or below it. */
function within(path: string, dir: string): boolean {
  const d = dir.endsWith('/') ? dir.slice(0, -1) : dir;
  return path === d || path.startsWith(`${d}/`);
}

export function buildSpec(input: SpecInput): OciSpec {
  const privileged = input.privileged ?? false;
  const caps = effectiveCapabilities(input);
  const h = host();

  // User mounts win over defaults on the same destination (and anything below it), as in moby.
  const userMounts = input.mounts ?? [];
  const taken = (dest: string) => userMounts.some((m) => within(dest, m.destination));
  const mounts = defaultMounts({ privileged, shmSize: input.shmSize ?? 64 * 1024 * 1024 }).filter((m) => !taken(m.destination));
  const bind = (destination: string, source: string | undefined) => {
    if (source && !taken(destination)) mounts.push({ destination, type: 'bind', source, options: ['rbind', 'rprivate'] });
  };
  bind('/etc/resolv.conf', input.resolvConfPath);
  bind('/etc/hostname', input.hostnamePath);
  bind('/etc/hosts', input.etcHostsPath);
  mounts.push(...userMounts);

  const namespaces: OciSpec['linux']['namespaces'] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (!input.hostNetwork) namespaces.push(input.netnsPath ? { type: 'network', path: input.netnsPath } : { type: 'network' });
  // docker's default cgroupns mode: private on cgroup v2, host on v1.
  if (h.cgroupV2) namespaces.push({ type: 'cgroup' });

  // moby daemon.setDefaultSysctls... in WithSysctls: unprivileged ports and ping in a private netns.
  const sysctl: Record<string, string> = {};
  if (!input.hostNetwork) {
    sysctl['net.ipv4.ip_unprivileged_port_start'] = '0';
    sysctl['net.ipv4.ping_group_range'] = '0 2147483647';
  }
  Object.assign(sysctl, input.sysctls ?? {});

  const nofile = h.hasSysResource ? DOCKER_NOFILE : Math.min(DOCKER_NOFILE, h.nofileHard);

  // moby SetCapabilities: a non-root user only gets the bounding set, as execve would leave it.
  const capabilities: OciCapabilities =
    input.user.uid === 0 ? { bounding: caps, effective: caps, permitted: caps } : { bounding: caps };

  let seccomp: SeccompProfile | undefined;
  const sp = input.seccompProfile ?? 'default';
  if (privileged && input.seccompProfile === undefined) seccomp = undefined;
  else if (sp === 'unconfined') seccomp = undefined;
  else if (sp === 'default') seccomp = defaultSeccomp(caps);
  else seccomp = convertSeccomp(sp, caps);

  const spec: OciSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: input.terminal,
      user: { uid: input.user.uid, gid: input.user.gid, additionalGids: input.user.additionalGids },
      args: input.args,
      env: input.env,
      cwd: input.cwd || '/',
      capabilities,
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }],
      noNewPrivileges: input.noNewPrivileges ?? false,
      oomScoreAdj: input.oomScoreAdj ?? 0,
    },
    root: { path: input.rootfsPath, readonly: input.readonlyRootfs ?? false },
    hostname: input.hostname,
    mounts,
    linux: {
      namespaces,
      cgroupsPath: input.cgroupsPath,
      resources: buildResources(privileged, input.resources),
      maskedPaths: privileged ? [] : [...MASKED_PATHS],
      readonlyPaths: privileged ? [] : [...READONLY_PATHS],
    },
  };
  if (Object.keys(sysctl).length > 0) spec.linux.sysctl = sysctl;
  if (seccomp) spec.linux.seccomp = seccomp;
  return spec;
}

// ---- seccomp ----

let dockerProfile: DockerSeccompProfile | undefined;
const seccompCache = new Map<string, SeccompProfile>();

/** Docker's default profile for amd64 and the given capabilities. Cached per capability set. */
export function defaultSeccomp(caps: readonly string[]): SeccompProfile {
  const key = [...caps].sort().join(',');
  const cached = seccompCache.get(key);
  if (cached) return cached;
  dockerProfile ??= JSON.parse(readFileSync(assetPath('seccomp', 'default.json'), 'utf8')) as DockerSeccompProfile;
  const profile = convertSeccomp(dockerProfile, caps);
  seccompCache.set(key, profile);
  return profile;
}

/** Docker's arch name for this process (moby uses runtime.GOARCH). */
function goArch(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: 'x86', s390x: 's390x', ppc64: 'ppc64le', riscv64: 'riscv64' };
  return map[process.arch] ?? process.arch;
}

const SCMP_ARCH: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64', arm: 'SCMP_ARCH_ARM', x86: 'SCMP_ARCH_X86',
  s390x: 'SCMP_ARCH_S390X', ppc64le: 'SCMP_ARCH_PPC64LE', riscv64: 'SCMP_ARCH_RISCV64',
};

/**
 * moby profiles/seccomp.setupSeccomp: keep a rule only if its `includes` all hold (arch, every
 * cap, kernel >= minKernel) and none of its `excludes` does (arch, any cap); architectures
 * are the native one and its sub-architectures from archMap.
 */
export function convertSeccomp(p: DockerSeccompProfile, caps: readonly string[], arch = goArch()): SeccompProfile {
  if (p.architectures && p.archMap) throw new InvalidParameterError("'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'");
  const kernel = kernelVersion();
  const native = SCMP_ARCH[arch];
  let architectures: string[] = p.architectures ?? [];
  if (p.archMap) {
    const entry = p.archMap.find((a) => a.architecture === native);
    architectures = entry ? [entry.architecture, ...(entry.subArchitectures ?? [])] : [];
  }
  const syscalls: SeccompRule[] = [];
  for (const rule of p.syscalls ?? []) {
    const inc = rule.includes ?? {};
    const exc = rule.excludes ?? {};
    if (inc.arches?.length && !inc.arches.includes(arch)) continue;
    if (inc.caps?.length && !inc.caps.every((c) => caps.includes(c))) continue;
    if (inc.minKernel && compareKernel(kernel, inc.minKernel) < 0) continue;
    if (exc.arches?.length && exc.arches.includes(arch)) continue;
    if (exc.caps?.length && exc.caps.some((c) => caps.includes(c))) continue;
    const names = rule.names ?? (rule.name ? [rule.name] : []);
    if (rule.name && rule.names?.length) throw new InvalidParameterError("use either 'name' or 'names' in a seccomp rule");
    const out: SeccompRule = { names, action: rule.action };
    if (rule.errnoRet !== undefined) out.errnoRet = rule.errnoRet;
    if (rule.args && rule.args.length > 0) out.args = rule.args;
    syscalls.push(out);
  }
  const profile: SeccompProfile = { defaultAction: p.defaultAction, architectures, syscalls };
  if (p.defaultErrnoRet !== undefined) profile.defaultErrnoRet = p.defaultErrnoRet;
  if (p.flags?.length) profile.flags = p.flags;
  return profile;
}

function kernelVersion(): string {
  try {
    return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    return '0.0';
  }
}

/** Compares major.minor, as moby's kernel.CompareKernelVersion does for minKernel. */
function compareKernel(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => parseInt(x, 10) || 0);
  const pb = b.split(/[.-]/).map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < 2; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

// ---- environment ----

/** Container env as docker builds it: PATH default, HOSTNAME, TERM for a TTY, then the config's, HOME last. */
export function containerEnv(configEnv: string[], opts: { hostname: string; tty: boolean; home?: string }): string[] {
  const out: string[] = [];
  const has = (k: string) => configEnv.some((e) => e === k || e.startsWith(`${k}=`));
  if (!has('PATH')) out.push(DEFAULT_PATH);
  out.push(`HOSTNAME=${opts.hostname}`);
  if (opts.tty && !has('TERM')) out.push('TERM=xterm');
  out.push(...configEnv);
  if (!has('HOME')) out.push(`HOME=${opts.home || '/'}`);
  return out;
}

/** Image env overridden by user env, key by key (moby's ReplaceOrAppendEnvValues). */
export function mergeEnv(imageEnv: string[], userEnv: string[]): string[] {
  const out = [...imageEnv];
  for (const entry of userEnv) {
    const key = entry.split('=', 1)[0];
    const i = out.findIndex((e) => e.split('=', 1)[0] === key);
    if (!entry.includes('=')) {
      // "FOO" alone removes FOO, as docker does for a variable unset on the client.
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    if (i >= 0) out[i] = entry;
    else out.push(entry);
  }
  return out;
}

// ---- users ----

/**
 * Resolve `path` inside `rootfs` the way the container would see it: every symlink, absolute
 * or relative, is resolved against the rootfs, never the host (what runc's securejoin does).
 * The lstat and readlink calls are synchronous: a handful of lookups in berth's own overlay take
 * microseconds each, where each trip through libuv's pool costs ~0.1-0.5 ms on every start and exec.
 */
export async function resolveInRootfs(rootfs: string, path: string): Promise<string> {
  const pending = path.split('/').filter(Boolean);
  const resolved: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const full = join(rootfs, ...resolved, part);
    let st;
    try {
      st = lstatSync(full);
    } catch {
      resolved.push(part, ...pending);
      break;
    }
    if (!st.isSymbolicLink()) {
      resolved.push(part);
      continue;
    }
    if (++hops > 255) throw new InvalidParameterError(`too many levels of symbolic links: ${path}`);
    const target = readlinkSync(full);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...target.split('/').filter(Boolean));
  }
  return join(rootfs, ...resolved);
}

/** Read a file of the container's rootfs; symlinks resolve inside it. Missing → ''. */
async function readRootfsFile(rootfs: string, path: string): Promise<string> {
  try {
    const full = await resolveInRootfs(rootfs, path);
    const st = lstatSync(full);
    if (!st.isFile()) return '';
    return readFileSync(full, 'utf8');
  } catch {
    return '';
  }
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function parsePasswd(text: string): PasswdEntry[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 4 && /^\d+$/.test(f[2]) && /^\d+$/.test(f[3]))
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' }));
}

function parseGroup(text: string): Array<{ name: string; gid: number; members: string[] }> {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 3 && /^\d+$/.test(f[2]))
    .map((f) => ({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean) }));
}

const NUMERIC = /^\d+$/;
const MAX_ID = 2147483647;

function checkId(n: number): number {
  if (n > MAX_ID) throw new InvalidParameterError(`uids and gids must be in range 0-${MAX_ID}`);
  return n;
}

/**
 * Resolve docker's `-u user[:group]` against the image's /etc/passwd and /etc/group, with
 * runc's user.GetExecUser rules: numeric ids need no entry; a name must exist; supplementary
 * groups come from /etc/group only when the user matched an entry and no group was given.
 */
export async function resolveUser(rootfs: string, spec: string): Promise<UserIds & { home: string }> {
  const colon = spec.indexOf(':');
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? '' : spec.slice(colon + 1);
  const passwd = parsePasswd(await readRootfsFile(rootfs, '/etc/passwd'));

  let uid = 0;
  let gid = 0;
  let home = '/';
  let matched: PasswdEntry | undefined;
  if (userPart === '') {
    matched = passwd.find((p) => p.uid === 0);
  } else if (NUMERIC.test(userPart)) {
    uid = checkId(Number(userPart));
    matched = passwd.find((p) => p.uid === uid);
  } else {
    matched = passwd.find((p) => p.name === userPart);
    if (!matched) throw new InvalidParameterError(`unable to find user ${userPart}: no matching entries in passwd file`);
  }
  if (matched) {
    uid = matched.uid;
    gid = matched.gid;
    home = matched.home || '/';
  }

  // moby getUser (since the CVE-2022-36109 fix): the primary gid is also the first supplementary
  // group, so the process never keeps a supplementary group it was not given.
  let additionalGids: number[] = [];
  if (groupPart !== '' || matched) {
    const groups = parseGroup(await readRootfsFile(rootfs, '/etc/group'));
    if (groupPart !== '') {
      if (NUMERIC.test(groupPart)) gid = checkId(Number(groupPart));
      else {
        const g = groups.find((x) => x.name === groupPart);
        if (!g) throw new InvalidParameterError(`unable to find group ${groupPart}: no matching entries in group file`);
        gid = g.gid;
      }
    } else if (matched) {
      additionalGids = [...new Set(groups.filter((g) => g.members.includes(matched!.name)).map((g) => g.gid))];
    }
  }
  return { uid, gid, additionalGids: [...new Set([gid, ...additionalGids])], home };
}
