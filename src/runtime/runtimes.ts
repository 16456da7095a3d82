// The OCI runtimes berthd can run containers with (dockerd's `runtimes` / `default-runtime`), and
// how each one is launched on this host.
//
// crun is preferred when it is installed: it is a C program that creates and starts a container
// in a fraction of runc's time (runc re-executes its ~10 MB Go binary three times per container),
// and container start latency is the figure users feel. runc stays available by name
// (`--runtime runc`, or `default-runtime: runc`).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { nativePath } from '../util/assets.js';
import { InvalidParameterError } from '../util/errors.js';
import { logger } from '../util/log.js';
import { lookPathOrNull } from './exec.js';
import { sysAddon } from './sys.js';

const log = logger('runtimes');

export interface RuntimeConfig {
  path: string;
  runtimeArgs?: string[];
}

export interface RuntimeEntry {
  name: string;
  /** What the user configured (docker info's Runtimes shows this). */
  path: string;
  runtimeArgs: string[];
  /** The runtime's program as executed: `path`, or for crun a sealed in-memory copy (sealedRuntime). */
  execPath: string;
  /** What is executed: the runtime itself, or the legacy-cgroups launcher followed by it. */
  command: string;
  commandArgs: string[];
  /**
   * Whether subcommands that never look at the cgroup layout (start, state, kill, delete, list)
   * may skip the launcher: each launch unshares a mount namespace, which costs a copy of the
   * host's mount table. Checked for crun 1.8; create, pause, resume, update and ps keep it. exec
   * goes without: crun's hybrid-mode refusal is in cgroup creation only, and an exec'd process
   * joins the same v1 controllers either way (test/e2e/exec.test.ts checks /proc/self/cgroup).
   */
  launcherOnlyFor?: Set<string>;
}

export type CgroupLayout = 'unified' | 'legacy' | 'hybrid' | 'hybrid-with-v2-controllers';

let layoutCache: CgroupLayout | undefined;

/** How cgroups are mounted here; hybrid hosts keep the v1 controllers and a cgroup2 mount at /sys/fs/cgroup/unified. */
export function cgroupLayout(): CgroupLayout {
  if (layoutCache) return layoutCache;
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) layoutCache = 'unified';
  else if (!existsSync('/sys/fs/cgroup/unified/cgroup.controllers')) layoutCache = 'legacy';
  else {
    const controllers = readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim();
    layoutCache = controllers === '' ? 'hybrid' : 'hybrid-with-v2-controllers';
  }
  return layoutCache;
}

/** dist/native/berth-legacy-cgroups, built from native/legacy-cgroups.c by `npm run build`. */
export function legacyCgroupsLauncher(): string | null {
  const path = nativePath('berth-legacy-cgroups');
  return existsSync(path) ? path : null;
}

/**
 * crun refuses a hybrid host whose cgroup2 hierarchy holds a controller (this one has hugetlb
 * there); the launcher runs it in a mount namespace without that mount, where it drives the
 * v1 controllers as runc does. null: the runtime cannot run here.
 */
function launch(path: string, args: string[]): Pick<RuntimeEntry, 'execPath' | 'command' | 'commandArgs' | 'launcherOnlyFor'> | null {
  const crun = basename(path) === 'crun';
  const execPath = crun ? sealedRuntime(path) : path;
  if (!crun || cgroupLayout() !== 'hybrid-with-v2-controllers') return { execPath, command: execPath, commandArgs: args };
  const launcher = legacyCgroupsLauncher();
  if (!launcher) return null;
  return { execPath, command: launcher, commandArgs: [execPath, ...args], launcherOnlyFor: new Set(['create', 'run', 'pause', 'resume', 'update', 'ps']) };
}

/**
 * crun copies itself into a memfd and re-executes from it at every call (its CVE-2019-5736
 * guard), ~5 ms of each create, start, exec and delete here, unless it already runs from a fully
 * sealed memfd. berthd makes that sealed copy once (berth-sys.node's sealedCopy) and runs crun
 * as /proc/<berthd>/fd/<n>: the same guard, paid once per daemon. conmon runs the runtime only
 * while berthd waits for it (create, exec), so the path never outlives the daemon that made it.
 * The copy is checked by running it once; any failure keeps the binary on disk.
 */
function sealedRuntime(path: string): string {
  const sys = sysAddon();
  if (!sys || process.env.BERTH_NO_SEALED_RUNTIME === '1') return path;
  try {
    const copy = `/proc/${process.pid}/fd/${sys.sealedCopy(path)}`;
    const probe = spawnSync(copy, ['--version'], { encoding: 'utf8', timeout: 5000 });
    if (probe.status === 0 && /crun version/.test(probe.stdout)) return copy;
    log.warn({ path, stderr: probe.stderr }, 'the sealed copy of the runtime does not run; using the binary on disk');
  } catch (err) {
    log.warn({ err, path }, 'cannot make a sealed copy of the runtime; using the binary on disk');
  }
  return path;
}

export interface RuntimeSet {
  runtimes: Map<string, RuntimeEntry>;
  defaultRuntime: string;
}

/**
 * Built-in runc and crun (where installed) plus the configured ones. `preferred` is the
 * configured default-runtime; without one, crun when it can run here, else runc.
 */
export function resolveRuntimes(configured: Record<string, RuntimeConfig>, preferred?: string): RuntimeSet {
  const runtimes = new Map<string, RuntimeEntry>();
  const add = (name: string, cfg: RuntimeConfig, builtin: boolean) => {
    const path = cfg.path.startsWith('/') ? cfg.path : lookPathOrNull(cfg.path);
    if (!path) {
      if (builtin) return;
      throw new InvalidParameterError(`runtime "${name}": ${cfg.path} not found in PATH`);
    }
    const args = cfg.runtimeArgs ?? [];
    const how = launch(path, args);
    if (!how) {
      if (builtin) return;
      throw new InvalidParameterError(`runtime "${name}" (${path}) cannot run on this hybrid cgroup host without dist/native/berth-legacy-cgroups; run npm run build`);
    }
    runtimes.set(name, { name, path, runtimeArgs: args, ...how });
  };
  add('runc', { path: 'runc' }, true);
  add('crun', { path: 'crun' }, true);
  for (const [name, cfg] of Object.entries(configured)) add(name, cfg, false);

  const defaultRuntime = preferred ?? (runtimes.has('crun') ? 'crun' : 'runc');
  if (!runtimes.has(defaultRuntime)) {
    throw new InvalidParameterError(
      runtimes.size === 0 ? 'no OCI runtime found: install runc or crun' : `default runtime "${defaultRuntime}" is not available (known: ${[...runtimes.keys()].join(', ')})`,
    );
  }
  return { runtimes, defaultRuntime };
}
