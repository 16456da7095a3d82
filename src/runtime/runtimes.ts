// The OCI runtimes berthd can run containers with (dockerd's `runtimes` / `default-runtime`), and
// how each one is launched on this host.
//
// crun is preferred when it is installed: it is a C program that creates and starts a container
// in a fraction of runc's time (runc re-executes its ~10 MB Go binary three times per container),
// and container start latency is the figure users feel. runc stays available by name
// (`--runtime runc`, or `default-runtime: runc`).
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { nativePath } from '../util/assets.js';
import { InvalidParameterError } from '../util/errors.js';
import { lookPathOrNull } from './exec.js';

export interface RuntimeConfig {
  path: string;
  runtimeArgs?: string[];
}

export interface RuntimeEntry {
  name: string;
  /** What the user configured (docker info's Runtimes shows this). */
  path: string;
  runtimeArgs: string[];
  /** What is executed: the runtime itself, or the legacy-cgroups launcher followed by it. */
  command: string;
  commandArgs: string[];
  /**
   * Whether subcommands that never look at the cgroup layout (start, state, kill, delete, list)
   * may skip the launcher: each launch unshares a mount namespace, which costs a copy of the
   * host's mount table. Checked for crun 1.8; create, exec, pause, resume, update and ps keep it.
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
function launch(path: string, args: string[]): Pick<RuntimeEntry, 'command' | 'commandArgs' | 'launcherOnlyFor'> | null {
  if (basename(path) !== 'crun' || cgroupLayout() !== 'hybrid-with-v2-controllers') return { command: path, commandArgs: args };
  const launcher = legacyCgroupsLauncher();
  if (!launcher) return null;
  return { command: launcher, commandArgs: [path, ...args], launcherOnlyFor: new Set(['create', 'run', 'exec', 'pause', 'resume', 'update', 'ps']) };
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
