// OCI runtime spec (config.json) for a container, with Docker's defaults: capabilities, mounts,
// masked and read-only /proc paths, device rules and the default seccomp profile.
import { readFileSync } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assetPath } from '../util/assets.js';
import { InvalidParameterError } from '../util/errors.js';

export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[]; inheritable?: string[]; ambient?: string[] };
    rlimits: Array<{ type: string; hard: number; soft: number }>;
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: Array<{ destination: string; type: string; source: string; options?: string[] }>;
  linux: {
    namespaces: Array<{ type: string; path?: string }>;
    cgroupsPath?: string;
    resources: { devices: Array<{ allow: boolean; type?: string; major?: number; minor?: number; access: string }> };
    maskedPaths: string[];
    readonlyPaths: string[];
    seccomp?: SeccompProfile;
  };
}

export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: Array<{ names: string[]; action: string; errnoRet?: number; args?: unknown[] }>;
}

export interface UserIds {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
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
  netnsPath?: string;
  cgroupsPath: string;
  etcHostsPath?: string;
  resolvConfPath?: string;
  hostnamePath?: string;
}

/** Docker's default capability set (moby oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function buildSpec(input: SpecInput): OciSpec {
  const caps = DEFAULT_CAPABILITIES;
  const mounts: OciSpec['mounts'] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864'] },
  ];
  const bind = (destination: string, source: string | undefined) => {
    if (source) mounts.push({ destination, type: 'bind', source, options: ['rbind', 'rprivate'] });
  };
  bind('/etc/resolv.conf', input.resolvConfPath);
  bind('/etc/hostname', input.hostnamePath);
  bind('/etc/hosts', input.etcHostsPath);

  return {
    ociVersion: '1.0.2',
    process: {
      terminal: input.terminal,
      user: { uid: input.user.uid, gid: input.user.gid, additionalGids: input.user.additionalGids },
      args: input.args,
      env: input.env,
      cwd: input.cwd || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      // No rlimits: the container inherits berthd's, as containers under dockerd inherit containerd's.
      rlimits: [],
      noNewPrivileges: false,
      oomScoreAdj: 0,
    },
    root: { path: input.rootfsPath, readonly: input.readonlyRootfs ?? false },
    hostname: input.hostname,
    mounts,
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        input.netnsPath ? { type: 'network', path: input.netnsPath } : { type: 'network' },
      ],
      cgroupsPath: input.cgroupsPath,
      resources: {
        devices: [
          { allow: false, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
          { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
          { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
          { allow: true, type: 'c', major: 136, access: 'rwm' },
          { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
        ],
      },
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      seccomp: defaultSeccomp(caps),
    },
  };
}

interface DockerSeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: unknown[];
  includes?: { caps?: string[]; arches?: string[]; minKernel?: string };
  excludes?: { caps?: string[]; arches?: string[]; minKernel?: string };
}

interface DockerSeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  archMap: Array<{ architecture: string; subArchitectures: string[] }>;
  syscalls: DockerSeccompRule[];
}

let dockerProfile: DockerSeccompProfile | undefined;
const seccompCache = new Map<string, SeccompProfile>();

/**
 * Docker's default profile for amd64 and the given capabilities: rules are kept or dropped by
 * their includes/excludes (arch, caps, kernel version), as moby's profile loader does.
 */
export function defaultSeccomp(caps: readonly string[]): SeccompProfile {
  const key = caps.join(',');
  const cached = seccompCache.get(key);
  if (cached) return cached;
  dockerProfile ??= JSON.parse(readFileSync(assetPath('seccomp', 'default.json'), 'utf8')) as DockerSeccompProfile;
  const arch = 'amd64';
  const kernel = kernelVersion();
  const matches = (cond: { caps?: string[]; arches?: string[]; minKernel?: string } | undefined, all: boolean): boolean => {
    if (!cond) return false;
    const checks: boolean[] = [];
    if (cond.arches) checks.push(cond.arches.includes(arch));
    if (cond.caps) checks.push(cond.caps.every((c) => caps.includes(c)));
    if (cond.minKernel) checks.push(compareKernel(kernel, cond.minKernel) >= 0);
    if (checks.length === 0) return false;
    return all ? checks.every(Boolean) : checks.some(Boolean);
  };
  const syscalls = dockerProfile.syscalls
    .filter((rule) => (rule.includes === undefined || Object.keys(rule.includes).length === 0 || matches(rule.includes, true)) && !matches(rule.excludes, false))
    .map((rule) => {
      const out: SeccompProfile['syscalls'][number] = { names: rule.names, action: rule.action };
      if (rule.errnoRet !== undefined) out.errnoRet = rule.errnoRet;
      if (rule.args && rule.args.length > 0) out.args = rule.args;
      return out;
    });
  const profile: SeccompProfile = {
    defaultAction: dockerProfile.defaultAction,
    defaultErrnoRet: dockerProfile.defaultErrnoRet,
    architectures: dockerProfile.archMap.filter((a) => a.architecture === 'SCMP_ARCH_X86_64').flatMap((a) => [a.architecture, ...a.subArchitectures]),
    syscalls,
  };
  seccompCache.set(key, profile);
  return profile;
}

function kernelVersion(): string {
  try {
    return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    return '0.0';
  }
}

function compareKernel(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => parseInt(x, 10) || 0);
  const pb = b.split(/[.-]/).map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < 2; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

/** Container env as docker builds it: PATH default, HOSTNAME, TERM for a TTY, then the config's, HOME last. */
export function containerEnv(configEnv: string[], opts: { hostname: string; tty: boolean; home: string }): string[] {
  const out: string[] = [];
  const has = (k: string) => configEnv.some((e) => e === k || e.startsWith(`${k}=`));
  if (!has('PATH')) out.push(DEFAULT_PATH);
  out.push(`HOSTNAME=${opts.hostname}`);
  if (opts.tty && !has('TERM')) out.push('TERM=xterm');
  out.push(...configEnv);
  if (!has('HOME')) out.push(`HOME=${opts.home}`);
  return out;
}

/** Image env overridden by user env, key by key (docker's ReplaceOrAppendEnvValues). */
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

/** Read a file of the container's rootfs without following a symlink that could lead out of it. */
async function readRootfsFile(rootfs: string, path: string): Promise<string> {
  const full = join(rootfs, path);
  try {
    const st = await lstat(full);
    if (!st.isFile()) return '';
    return await readFile(full, 'utf8');
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
    .filter((f) => f.length >= 4)
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' }));
}

function parseGroup(text: string): Array<{ name: string; gid: number; members: string[] }> {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 3)
    .map((f) => ({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) }));
}

const NUMERIC = /^\d+$/;

/** Resolve docker's `-u user[:group]` against the image's /etc/passwd and /etc/group. */
export async function resolveUser(rootfs: string, spec: string): Promise<UserIds> {
  const [userPart, groupPart] = spec === '' ? ['', undefined] : spec.split(':', 2);
  const passwd = parsePasswd(await readRootfsFile(rootfs, 'etc/passwd'));
  const groups = parseGroup(await readRootfsFile(rootfs, 'etc/group'));
  let entry: PasswdEntry | undefined;
  if (userPart === '') {
    entry = passwd.find((p) => p.uid === 0) ?? { name: 'root', uid: 0, gid: 0, home: '/root' };
  } else if (NUMERIC.test(userPart)) {
    const uid = Number(userPart);
    entry = passwd.find((p) => p.uid === uid) ?? { name: userPart, uid, gid: 0, home: '/' };
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw new InvalidParameterError(`unable to find user ${userPart}: no matching entries in passwd file`);
  }
  let gid = entry.gid;
  if (groupPart !== undefined && groupPart !== '') {
    if (NUMERIC.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw new InvalidParameterError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }
  const additionalGids = groupPart
    ? []
    : groups.filter((g) => g.members.includes(entry!.name) && g.gid !== gid).map((g) => g.gid);
  return { uid: entry.uid, gid, additionalGids, home: entry.home || '/' };
}
