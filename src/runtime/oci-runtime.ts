// conmon + runc. conmon runs `runc create`, then stays as the container's monitor: it holds its
// stdio, writes the log, and records the exit code in the exit dir, so containers outlive berthd.
//
// The conmon handshake (conmon 2.1, --api-version 1): the fd named by _OCI_SYNCPIPE receives one
// JSON object once `runc create` is done: `{"data": <container pid>}` on success, or
// `{"data": -1, "message": "<runtime's error>"}` on failure. conmon double-forks to daemonize,
// so the process we spawn exits at once; the sync fd is held by the daemon until it has answered.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError, InvalidParameterError, SystemError } from '../util/errors.js';
import { logger } from '../util/log.js';
import { execFileCollect, lookPath } from './exec.js';
import type { RuntimeSet } from './runtimes.js';
import type { OciSpec } from './spec.js';
import { sysAddon } from './sys.js';

const log = logger('runtime');

export type RuntimeErrorKind = 'not-found' | 'permission' | 'other';

/**
 * The container's process could not be created or started; the message keeps runc's words.
 * Callers map kind to docker's exit codes: not-found → 127, permission → 126.
 */
export class RuntimeExecError extends BerthError {
  constructor(
    message: string,
    readonly kind: RuntimeErrorKind,
  ) {
    super(message, kind === 'other' ? 500 : 400);
  }
}

export interface RuntimeOptions {
  /** The runtimes containers may use (runtimes.ts) and the one used when a container names none. */
  runtimes?: RuntimeSet;
  /** Shorthand for a single runc (tests): its path and --root. */
  runcPath?: string;
  runcRoot?: string;
  /** Each runtime's --root is <rootsDir>/<name>. Never Docker's (/run/docker/runtime-runc). */
  rootsDir?: string;
  conmonPath?: string;
  /** conmon's per-container state: pidfiles, attach sockets, persist dirs (exit, oom files). */
  stateDir: string;
  /** conmon's own log level (it logs to stderr/syslog); 'error' keeps the journal quiet. */
  conmonLogLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export interface CreateOptions {
  bundleDir: string;
  /** conmon writes the container's stdout/stderr here in k8s-file format. */
  logPath: string;
  /** conmon writes a file named <id> here holding the exit code when the container ends. */
  exitDir: string;
  terminal?: boolean;
  /** Keep the container's stdin open for attach (docker -i). */
  stdin?: boolean;
  /** conmon closes the container's stdin when an attached client goes, unless this is set. */
  leaveStdinOpen?: boolean;
  name?: string;
  /** Bytes; conmon truncates the log beyond this. */
  logSizeMax?: number;
  /** A name from the runtime set; the default runtime when absent. */
  runtime?: string;
  /** From prepareSpec: keep the seccomp filter the runtime compiles for this container. */
  learnSeccomp?: string;
}

export interface RuncState {
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  bundle?: string;
  created?: string;
}

export interface ExitInfo {
  code: number;
  oomKilled: boolean;
}

/** runc logs logrus lines (`time=... level=error msg="..."`): keep the message itself. */
export function runcMessage(stderr: string): string {
  const msgs = [...stderr.matchAll(/msg="((?:[^"\\]|\\.)*)"/g)].map((m) => {
    try {
      return JSON.parse(`"${m[1]}"`) as string;
    } catch {
      return m[1];
    }
  });
  if (msgs.length === 0) return stderr.trim();
  // runc 1.1 prints the useful error last ("runc create failed: unable to start container process: ...").
  return msgs[msgs.length - 1];
}

export function classifyRuntimeError(message: string): RuntimeErrorKind {
  // runc: `exec: "x": executable file not found in $PATH`; crun: "executable file `x` not found in $PATH".
  if (/executable file.*not found|no such file or directory/i.test(message)) return 'not-found';
  // runc: "permission denied"; crun: "open executable: Operation not permitted" (a directory, a non-executable file).
  if (/permission denied|open executable: operation not permitted/i.test(message)) return 'permission';
  return 'other';
}

/**
 * crun words exec failures its own way; clients (the docker CLI among them) pick exit codes 127
 * and 126 by runc's lowercase words, so say them as runc does, keeping the path.
 */
export function runcWording(message: string): string {
  const notFound = /executable file `([^`]*)` not found in \$PATH/.exec(message);
  if (notFound) {
    const p = notFound[1];
    return p.includes('/') ? `exec: "${p}": stat ${p}: no such file or directory` : `exec: "${p}": executable file not found in $PATH`;
  }
  if (/open executable: Operation not permitted|exec.*: Permission denied/.test(message)) return `exec: permission denied (${message})`;
  return message;
}

const CREATE_TIMEOUT_MS = 60_000;

interface Launch {
  name: string;
  command: string;
  /** Launcher args, the runtime's own args and its --root: everything before the subcommand. */
  prefix: string[];
  /** The runtime without its launcher, for subcommands that do not need it (see RuntimeEntry). */
  direct?: { command: string; prefix: string[]; except: Set<string> };
  /** Its --root (state directories of its containers). */
  root: string;
  /** crun: takes a compiled seccomp filter through the run.oci.seccomp_bpf_data annotation. */
  crun: boolean;
}

/** crun's annotation: base64 of the raw filter, used instead of compiling linux.seccomp. */
const SECCOMP_BPF_ANNOTATION = 'run.oci.seccomp_bpf_data';

export class OciRuntime {
  private readonly watchers = new Set<{ close(): void }>();
  readonly conmonPath: string;
  readonly stateDir: string;
  readonly defaultRuntime: string;
  private readonly launches = new Map<string, Launch>();
  /** Which runtime each container was created with (also kept in its state dir for restarts). */
  private readonly runtimeOf = new Map<string, string>();
  private readonly conmonLogLevel: string;
  /**
   * Seccomp filters crun compiled, by a hash of the profile they came from. crun compiles the
   * profile with libseccomp at every create (about a third of its CPU time per container here)
   * and leaves the result in its state dir; the next container with the same profile gets it back
   * through SECCOMP_BPF_ANNOTATION. Kept in memory: a new berthd (or crun) compiles once again.
   */
  private readonly seccompFilters = new Map<string, string>();

  constructor(opts: RuntimeOptions) {
    this.conmonPath = lookPath(opts.conmonPath ?? 'conmon');
    this.stateDir = opts.stateDir;
    this.conmonLogLevel = opts.conmonLogLevel ?? 'error';
    if (opts.runtimes) {
      const rootsDir = opts.rootsDir ?? join(opts.stateDir, '..');
      for (const r of opts.runtimes.runtimes.values()) {
        const root = ['--root', join(rootsDir, r.name)];
        this.launches.set(r.name, {
          name: r.name,
          root: join(rootsDir, r.name),
          crun: basename(r.path) === 'crun',
          command: r.command,
          prefix: [...r.commandArgs, ...root],
          direct: r.launcherOnlyFor ? { command: r.execPath, prefix: [...r.runtimeArgs, ...root], except: r.launcherOnlyFor } : undefined,
        });
      }
      this.defaultRuntime = opts.runtimes.defaultRuntime;
    } else {
      // conmon insists on an absolute runtime path.
      const path = lookPath(opts.runcPath ?? 'runc');
      const root = opts.runcRoot ?? join(opts.stateDir, '..', 'runc');
      this.launches.set('runc', { name: 'runc', command: path, prefix: ['--root', root], root, crun: false });
      this.defaultRuntime = 'runc';
    }
  }

  /** The runtime a container runs under: recorded at create, read back after a daemon restart. */
  private launchFor(id: string): Launch {
    let name = this.runtimeOf.get(id);
    if (!name) {
      try {
        name = readFileSync(join(this.containerStateDir(id), 'runtime'), 'utf8').trim();
      } catch {
        // created by a berthd that did not record it: runc was the only runtime then
        name = 'runc';
      }
      this.runtimeOf.set(id, name);
    }
    return this.launches.get(name) ?? this.launches.get(this.defaultRuntime)!;
  }

  /** How to run the runtime of one container (exec and friends build on it). */
  commandFor(id: string, subcommand?: string): { name: string; command: string; args: string[] } {
    const l = this.launchFor(id);
    if (subcommand && l.direct && !l.direct.except.has(subcommand)) return { name: l.name, command: l.direct.command, args: [...l.direct.prefix] };
    return { name: l.name, command: l.command, args: [...l.prefix] };
  }

  has(runtime: string): boolean {
    return this.launches.has(runtime);
  }

  private run(id: string, args: string[]) {
    const l = this.launchFor(id);
    if (l.direct && !l.direct.except.has(args[0])) return execFileCollect(l.direct.command, [...l.direct.prefix, ...args]);
    return execFileCollect(l.command, [...l.prefix, ...args]);
  }

  /** conmon's directory for one container (pidfiles, attach socket, `exit` and `oom` files). */
  containerStateDir(id: string): string {
    return join(this.stateDir, id);
  }

  /**
   * Last touches to a container's spec for its runtime: a seccomp filter crun compiled before for
   * the same profile. Returns the profile's key when the runtime's filter is worth keeping
   * (pass it to create as learnSeccomp).
   */
  prepareSpec(spec: OciSpec, runtime?: string): string | undefined {
    const launch = this.launches.get(runtime ?? this.defaultRuntime);
    if (!launch?.crun || !spec.linux.seccomp) return undefined;
    const key = createHash('sha256').update(JSON.stringify(spec.linux.seccomp)).digest('hex');
    const filter = this.seccompFilters.get(key);
    if (!filter) return key;
    spec.annotations = { ...spec.annotations, [SECCOMP_BPF_ANNOTATION]: filter };
    return undefined;
  }

  private async keepSeccompFilter(launch: Launch, id: string, key: string): Promise<void> {
    const bpf = await readFile(join(launch.root, id, 'seccomp.bpf')).catch(() => undefined);
    // A classic BPF program is a whole number of 8-byte instructions.
    if (bpf && bpf.length > 0 && bpf.length % 8 === 0) this.seccompFilters.set(key, bpf.toString('base64'));
  }

  /**
   * Starts conmon for one container and returns what the runtime's create reported on the sync
   * pipe (fd 3), and conmon's early stderr. conmon daemonizes: it gets its own session, so signals
   * to berthd's group (Ctrl-C, systemd stop) never reach the monitor. With berth-sys.node the spawn
   * happens on a pool thread (posix_spawn); without it, child_process forks berthd.
   */
  private async startConmon(id: string, args: string[], dir: string): Promise<{ text: string; stderr: string }> {
    const env = { ...process.env, _OCI_SYNCPIPE: '3' };
    const sys = sysAddon();
    if (sys) {
      let r;
      try {
        r = await sys.spawnAsync(this.conmonPath, args, Object.entries(env).map(([k, v]) => `${k}=${v ?? ''}`), { cwd: dir, setsid: true, syncPipe: true, timeoutMs: CREATE_TIMEOUT_MS });
      } catch (err) {
        throw new SystemError(`conmon (${this.conmonPath}): ${(err as Error).message}`, { cause: err });
      }
      if (r.timedOut) throw new SystemError(`conmon: no answer from the runtime for container ${id} after ${CREATE_TIMEOUT_MS} ms`);
      return { text: r.sync?.toString() ?? '', stderr: r.stderr.toString().slice(0, 64 * 1024) };
    }
    const child = spawn(this.conmonPath, args, {
      // fd 3 is the sync pipe. conmon's stdout is unused; its stderr carries early failures.
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      env,
      cwd: dir,
      // Its own session and process group: signals to berthd's group (Ctrl-C, systemd stop)
      // must not reach the monitor, and berthd must not wait for it.
      detached: true,
    });
    child.unref();
    const sync = child.stdio[3] as Readable;
    const stderrStream = child.stderr as Readable;
    let stderr = '';
    stderrStream.on('data', (c: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += c.toString();
    });

    let text: string;
    try {
      text = await new Promise<string>((resolve, reject) => {
        let buf = '';
        const timer = setTimeout(() => reject(new SystemError(`conmon: no answer from the runtime for container ${id} after ${CREATE_TIMEOUT_MS} ms`)), CREATE_TIMEOUT_MS);
        const done = (v: string) => {
          clearTimeout(timer);
          resolve(v);
        };
        sync.on('data', (c: Buffer) => {
          buf += c.toString();
          // One JSON object, possibly followed by a newline; it may arrive in pieces.
          try {
            JSON.parse(buf);
            done(buf);
          } catch {
            // incomplete, keep reading
          }
        });
        sync.on('end', () => done(buf));
        sync.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        child.on('error', (err: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          reject(new SystemError(`conmon (${this.conmonPath}): ${err.message}`, { cause: err }));
        });
      });
    } finally {
      // Our ends only: the daemonized conmon keeps running; these must not keep berthd's loop alive.
      sync.destroy();
      // Give a failing conmon a moment to finish its stderr line before we drop the pipe.
      if (stderr === '') await new Promise((r) => setImmediate(r));
      stderrStream.destroy();
    }
    return { text, stderr };
  }

  /** Create the container through conmon; resolves once `runc create` has finished. */
  async create(id: string, o: CreateOptions): Promise<{ pid: number; conmonPid: number }> {
    const dir = this.containerStateDir(id);
    const runtime = o.runtime ?? this.defaultRuntime;
    const launch = this.launches.get(runtime);
    if (!launch) throw new InvalidParameterError(`unknown or invalid runtime name: ${runtime}`);
    // A previous run's oom/exit markers must not be read as this run's.
    await rm(dir, { recursive: true, force: true });
    await Promise.all([mkdir(dir, { recursive: true }), mkdir(o.exitDir, { recursive: true })]);
    await writeFile(join(dir, 'runtime'), runtime);
    this.runtimeOf.set(id, runtime);
    const args = [
      '--api-version', '1',
      '-c', id,
      '-u', id,
      '-r', launch.command,
      '-b', o.bundleDir,
      '-p', join(dir, 'pidfile'),
      '-P', join(dir, 'conmon.pid'),
      '-l', `k8s-file:${o.logPath}`,
      '--exit-dir', o.exitDir,
      '--persist-dir', dir,
      '--socket-dir-path', dir,
      // Attach socket at <socket-dir>/<id>/attach regardless of the path length limit.
      '--full-attach',
      // The log is read back by berth; fsync per line would cost a write barrier per line.
      '--no-sync-log',
      '--log-level', this.conmonLogLevel,
    ];
    // conmon puts runtime args before the subcommand: launcher args, the runtime's own, --root.
    for (const a of launch.prefix) args.push('--runtime-arg', a);
    if (o.name) args.push('-n', o.name.replace(/^\//, ''));
    if (o.terminal) args.push('-t');
    if (o.stdin) args.push('-i');
    if (o.stdin && o.leaveStdinOpen) args.push('--leave-stdin-open');
    if (o.logSizeMax !== undefined && o.logSizeMax > 0) args.push('--log-size-max', String(o.logSizeMax));

    const { text, stderr } = await this.startConmon(id, args, dir);

    let parsed: { data?: number; message?: string };
    try {
      parsed = JSON.parse(text.trim()) as { data?: number; message?: string };
    } catch {
      const detail = stderr.trim() || text.trim() || 'no response on the sync pipe';
      throw new RuntimeExecError(`conmon failed to create container ${id}: ${detail}`, classifyRuntimeError(detail));
    }
    if (typeof parsed.data !== 'number' || parsed.data <= 0) {
      const message = runcWording(runcMessage(parsed.message ?? stderr) || 'unknown runtime error');
      throw new RuntimeExecError(`OCI runtime create failed: ${message}`, classifyRuntimeError(message));
    }
    const conmonPid = Number((await readFile(join(dir, 'conmon.pid'), 'utf8').catch(() => '')).trim()) || 0;
    if (o.learnSeccomp) await this.keepSeccompFilter(launch, id, o.learnSeccomp);
    return { pid: parsed.data, conmonPid };
  }

  async start(id: string): Promise<void> {
    const r = await this.run(id, ['start', id]);
    if (r.code !== 0) {
      const message = runcWording(runcMessage(r.stderr));
      throw new RuntimeExecError(`OCI runtime start failed: ${message}`, classifyRuntimeError(message));
    }
  }

  /** Signal the container's init process. `signal`: "SIGTERM", "TERM" or "15". */
  async kill(id: string, signal: string | number = 'SIGTERM', o: { all?: boolean } = {}): Promise<void> {
    const sig = typeof signal === 'number' ? String(signal) : signal.toUpperCase().replace(/^SIG/, '');
    const r = await this.run(id, o.all ? ['kill', '--all', id, sig] : ['kill', id, sig]);
    if (r.code !== 0) throw new SystemError(`kill ${id} ${signal}: ${runcMessage(r.stderr)}`);
  }

  async pause(id: string): Promise<void> {
    const r = await this.run(id, ['pause', id]);
    if (r.code !== 0) throw new SystemError(`pause ${id}: ${runcMessage(r.stderr)}`);
  }

  async resume(id: string): Promise<void> {
    const r = await this.run(id, ['resume', id]);
    if (r.code !== 0) throw new SystemError(`resume ${id}: ${runcMessage(r.stderr)}`);
  }

  /** Idempotent: a container runc does not know is already deleted. */
  async delete(id: string, o: { force?: boolean } = {}): Promise<void> {
    const r = await this.run(id, o.force ? ['delete', '--force', id] : ['delete', id]);
    if (r.code !== 0 && !/does not exist|not found|No such file or directory/.test(r.stderr)) throw new SystemError(`delete ${id}: ${runcMessage(r.stderr)}`);
    this.runtimeOf.delete(id);
  }

  /** conmon's state for a container (call after its exit was recorded). */
  async removeState(id: string): Promise<void> {
    await rm(this.containerStateDir(id), { recursive: true, force: true });
  }

  /** runc's view of one container, or null if runc does not know it. */
  async state(id: string): Promise<RuncState | null> {
    const r = await this.run(id, ['state', id]);
    if (r.code !== 0) return null;
    return JSON.parse(r.stdout) as RuncState;
  }

  /** PIDs of the container's processes (`runc ps` / `crun ps`, JSON). */
  async ps(id: string): Promise<number[]> {
    const r = await this.run(id, ['ps', '--format', 'json', id]);
    if (r.code !== 0) throw new SystemError(`ps ${id}: ${runcMessage(r.stderr)}`);
    return (JSON.parse(r.stdout || '[]') as number[] | null) ?? [];
  }

  /** Every container each runtime knows. */
  async list(): Promise<RuncState[]> {
    const all: RuncState[] = [];
    for (const l of this.launches.values()) {
      const r = await execFileCollect(l.command, [...l.prefix, 'list', '--format', 'json']);
      if (r.code !== 0) throw new SystemError(`${l.name} list: ${runcMessage(r.stderr)}`);
      // runc prints `null` when it has no containers, crun `[]`.
      all.push(...((JSON.parse(r.stdout || 'null') as RuncState[] | null) ?? []));
    }
    return all;
  }

  /** conmon leaves an `oom` file in the persist dir when the container's cgroup hit OOM. */
  async wasOomKilled(id: string): Promise<boolean> {
    try {
      await readFile(join(this.containerStateDir(id), 'oom'));
      return true;
    } catch {
      return false;
    }
  }

  async readExitCode(exitDir: string, id: string): Promise<number | null> {
    try {
      const text = (await readFile(join(exitDir, id), 'utf8')).trim();
      if (text === '') return null;
      const code = Number(text);
      return Number.isInteger(code) ? code : null;
    } catch {
      return null;
    }
  }

  async readExit(exitDir: string, id: string): Promise<ExitInfo | null> {
    const code = await this.readExitCode(exitDir, id);
    if (code === null) return null;
    return { code, oomKilled: await this.wasOomKilled(id) };
  }

  /**
   * Report each exit file conmon writes. A scan at start reports exits that happened while
   * berthd was away; fs.watch reports new ones; a slow poll covers what inotify misses.
   * A file can be reported more than once: the caller's exit handling must be idempotent
   * (or remove the exit file once recorded).
   */
  watchExits(exitDir: string, onExit: (id: string, code: number, info: ExitInfo) => void, o: { pollMs?: number } = {}): { close(): void } {
    const reported = new Map<string, number>();
    const check = async (name: string) => {
      // g_file_set_contents writes "<id>.XXXXXX" then renames it to <id>: skip the temp files.
      if (name.startsWith('.') || /\.[A-Za-z0-9]{6}$/.test(name)) return;
      const info = await this.readExit(exitDir, name);
      if (!info) return;
      // Suppress repeats of the same file (watch + poll) but report a new run's exit.
      const mtime = await stat(join(exitDir, name)).then((s) => s.mtimeMs, () => 0);
      if (reported.get(name) === mtime) return;
      reported.set(name, mtime);
      onExit(name, info.code, info);
    };
    const scan = async () => {
      const names = await readdir(exitDir).catch(() => [] as string[]);
      for (const n of reported.keys()) if (!names.includes(n)) reported.delete(n);
      for (const n of names) await check(n).catch((err) => log.warn({ err, id: n }, 'exit file check failed'));
    };
    void scan();
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(exitDir, (_event, name) => {
        if (name) void check(name.toString()).catch((err) => log.warn({ err }, 'exit file check failed'));
      });
      watcher.on('error', (err) => log.warn({ err }, 'exit dir watch failed; polling only'));
    } catch (err) {
      log.warn({ err, exitDir }, 'cannot watch exit dir; polling only');
    }
    const timer = setInterval(() => void scan(), o.pollMs ?? 2000);
    timer.unref();
    const handle = {
      close: () => {
        watcher?.close();
        clearInterval(timer);
        this.watchers.delete(handle);
      },
    };
    this.watchers.add(handle);
    return handle;
  }

  close(): void {
    for (const w of [...this.watchers]) w.close();
  }
}
