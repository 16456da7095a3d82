// Exec sessions (docker exec): created against a running container, started once, inspected
// afterwards. Like dockerd, berth keeps them in memory only.
//
// Without a TTY, berthd runs `runc exec` itself (posix_spawn, runtime/piped-child.ts) with socket
// pairs for stdin/stdout/stderr: nothing else is needed to carry the streams, the exit status of
// `runc exec` is the process's, and it is the cheapest path (exec latency is benchmarked). runc's own messages go to a --log file in JSON, so
// the process's stderr is never mixed with runc's errors, and a failed start is told apart from a
// process that exits 255. With a TTY, runc must hand the pty master over a --console-socket
// (SCM_RIGHTS), which Node cannot receive: conmon does that for us (conmon-exec.ts).
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { spawnPiped } from '../runtime/piped-child.js';
import { classifyRuntimeError, runcWording, type OciRuntime } from '../runtime/oci-runtime.js';
import { allCapabilities, mergeEnv, resolveUser, type OciSpec } from '../runtime/spec.js';
import { ConflictError, InvalidParameterError, NotFoundError } from '../util/errors.js';
import { logger } from '../util/log.js';
import { startConmonExec, type ConmonExec } from './conmon-exec.js';
import type { ContainerManager } from './manager.js';
import type { ContainerRecord } from './model.js';

const log = logger('exec');

/** docker's ExecConfig (POST /containers/{id}/exec). */
export interface ExecConfig {
  User?: string;
  Privileged?: boolean;
  Tty?: boolean;
  ConsoleSize?: [number, number] | null;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Detach?: boolean;
  DetachKeys?: string;
  Env?: string[] | null;
  WorkingDir?: string;
  Cmd?: string[] | null;
}

export interface ExecSession {
  id: string;
  containerId: string;
  config: ExecConfig;
  running: boolean;
  started: boolean;
  exitCode: number | null;
  pid: number;
  /** Resize the exec's TTY (rows, columns); set while a TTY exec runs. */
  resize?: (height: number, width: number) => Promise<void>;
}

/** Where an exec's output goes: `stream` 1 stdout, 2 stderr (the TTY's output is all stdout). */
export interface ExecIo {
  stdin?: Readable;
  write(stream: 1 | 2, data: Buffer): void;
}

export interface ExecPaths {
  dataRoot: string;
  execRoot: string;
}

export class ExecManager {
  private readonly sessions = new Map<string, ExecSession>();
  /** Emits `exit` (session) when an exec process ends. */
  readonly events = new EventEmitter();

  constructor(
    private readonly containers: ContainerManager,
    private readonly runtime: OciRuntime,
    private readonly paths: ExecPaths,
    private readonly conmonPath: string,
  ) {}

  private get dir(): string {
    return join(this.paths.execRoot, 'exec');
  }

  /** POST /containers/{id}/exec. */
  create(idOrName: string, config: ExecConfig): string {
    const c = this.containers.get(idOrName);
    assertRunning(c);
    const cmd = config.Cmd ?? [];
    if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((a) => typeof a === 'string')) {
      throw new InvalidParameterError('No exec command specified');
    }
    if (config.Env != null && (!Array.isArray(config.Env) || !config.Env.every((e) => typeof e === 'string'))) {
      throw new InvalidParameterError('json: cannot unmarshal Env: expected an array of strings');
    }
    const id = randomBytes(32).toString('hex');
    this.sessions.set(id, { id, containerId: c.id, config: { ...config, Cmd: cmd }, running: false, started: false, exitCode: null, pid: 0 });
    // Old finished sessions of gone containers are dropped, as dockerd forgets them.
    for (const s of this.sessions.values()) {
      if (!s.running && s.started && !this.containers.find(s.containerId)) this.sessions.delete(s.id);
    }
    return id;
  }

  get(id: string): ExecSession {
    const s = this.sessions.get(id);
    if (!s) throw new NotFoundError(`No such exec instance: ${id}`);
    return s;
  }

  /** Exec IDs of a container, for its inspect's ExecIDs (running ones, as docker lists). */
  idsOf(containerId: string): string[] {
    return [...this.sessions.values()].filter((s) => s.containerId === containerId && s.running).map((s) => s.id);
  }

  /** GET /exec/{id}/json. */
  inspect(id: string): Record<string, unknown> {
    const s = this.get(id);
    const cmd = s.config.Cmd ?? [];
    return {
      ID: s.id,
      Running: s.running,
      ExitCode: s.exitCode,
      ProcessConfig: {
        tty: s.config.Tty ?? false,
        entrypoint: cmd[0],
        arguments: cmd.slice(1),
        privileged: s.config.Privileged ?? false,
        user: s.config.User ?? '',
      },
      OpenStdin: s.config.AttachStdin ?? false,
      OpenStderr: s.config.AttachStderr ?? false,
      OpenStdout: s.config.AttachStdout ?? false,
      CanRemove: false,
      ContainerID: s.containerId,
      DetachKeys: s.config.DetachKeys ?? '',
      Pid: s.pid,
    };
  }

  /** Checks done before the start request is answered (so errors get a proper status). */
  checkStartable(id: string): ExecSession {
    const s = this.get(id);
    if (s.running) throw new ConflictError(`Error: Exec command ${id} is already running`);
    if (s.started) throw new ConflictError(`Error: Exec command ${id} has already run`);
    assertRunning(this.containers.get(s.containerId));
    return s;
  }

  /**
   * Run the exec; resolves with its exit code once it ended and its output was delivered.
   * A process that cannot be started gets docker's 126/127 and `onStartError` hears runc's words.
   */
  async start(id: string, io: ExecIo, o: { tty: boolean; consoleSize?: [number, number] | null; onStartError?: (message: string) => void }): Promise<number> {
    const s = this.checkStartable(id);
    s.started = true;
    s.running = true;
    const c = this.containers.get(s.containerId);
    try {
      const proc = await this.processSpec(c, s.config, o.tty);
      const sessionDir = join(this.dir, id);
      // Small files on local disk, synchronously: a few microseconds each, where a trip through
      // libuv's pool costs ~0.5 ms (exec latency is benchmarked).
      mkdirSync(sessionDir, { recursive: true });
      const processFile = join(sessionDir, 'process.json');
      writeFileSync(processFile, JSON.stringify(proc));
      const result = o.tty
        ? await this.runTty(s, c, sessionDir, processFile, io, o.consoleSize ?? s.config.ConsoleSize ?? null)
        : await this.runPiped(s, c, sessionDir, processFile, io);
      if (result.startError) {
        o.onStartError?.(result.startError);
        log.debug({ id, err: result.startError }, 'exec start failed');
      }
      s.exitCode = result.code;
      // The caller answers as soon as the code is known; the session's files go afterwards.
      void rm(sessionDir, { recursive: true, force: true }).catch(() => undefined);
      return result.code;
    } catch (err) {
      s.exitCode = 126;
      throw err;
    } finally {
      s.running = false;
      s.resize = undefined;
      this.events.emit('exit', s);
    }
  }

  /** Run a command in a running container and collect its output (healthchecks). */
  async run(idOrName: string, cmd: string[], o: { timeoutMs: number; user?: string; env?: string[] }): Promise<{ exitCode: number; output: string; timedOut: boolean }> {
    const id = this.create(idOrName, { Cmd: cmd, User: o.user, Env: o.env, AttachStdout: true, AttachStderr: true });
    const chunks: Buffer[] = [];
    let size = 0;
    const io: ExecIo = {
      write: (_stream, data) => {
        if (size < 64 * 1024) chunks.push(data);
        size += data.length;
      },
    };
    let timedOut = false;
    const s = this.get(id);
    const done = this.start(id, io, { tty: false, onStartError: (m) => io.write(2, Buffer.from(m)) });
    let finished = false;
    void done.finally(() => (finished = true)).catch(() => undefined);
    const timer = setTimeout(async () => {
      timedOut = true;
      // runc may not have started the process yet on a busy machine: kill it once it has.
      while (!finished && s.pid === 0) await new Promise((r) => setTimeout(r, 20));
      if (finished) return;
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, o.timeoutMs);
    try {
      const exitCode = await done;
      return { exitCode, output: Buffer.concat(chunks).toString('utf8'), timedOut };
    } finally {
      clearTimeout(timer);
      this.sessions.delete(id);
    }
  }

  /** The container's process with the exec's command, environment, user, directory and TTY. */
  private async processSpec(c: ContainerRecord, config: ExecConfig, tty: boolean): Promise<OciSpec['process']> {
    const bundle = JSON.parse(readFileSync(join(this.paths.execRoot, 'containers', c.id, 'config.json'), 'utf8')) as OciSpec;
    const base = bundle.process;
    const rootfs = join(this.paths.dataRoot, 'containers', c.id, 'merged');
    const userSpec = config.User || c.config.User || '';
    const user = await resolveUser(rootfs, userSpec);
    // The container's environment (as its process got it), then the exec's own.
    let env = mergeEnv(base.env ?? [], config.Env ?? []);
    if (tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
    if (!tty) env = env.filter((e) => e !== 'TERM=xterm' || (config.Env ?? []).includes(e));
    let caps = base.capabilities;
    if (config.Privileged) {
      // Every capability this kernel has, that berthd itself holds (a sandboxed root may lack some).
      // allCapabilities() is already limited to what berthd's own bounding set holds.
      const all = allCapabilities();
      caps = { bounding: all, effective: all, permitted: all };
    }
    if (user.uid !== 0 && caps) caps = { bounding: caps.bounding };
    return {
      ...base,
      terminal: tty,
      args: config.Cmd ?? [],
      env,
      cwd: config.WorkingDir || c.config.WorkingDir || '/',
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      capabilities: caps,
    };
  }

  private async runPiped(s: ExecSession, c: ContainerRecord, dir: string, processFile: string, io: ExecIo): Promise<{ code: number; startError?: string }> {
    const logFile = join(dir, 'runc.log');
    const pidFile = join(dir, 'pid');
    const attachStdin = Boolean(s.config.AttachStdin && io.stdin);
    // The container's own runtime (runc or crun; both take these global options and exec flags).
    const rt = this.runtime.commandFor(c.id, 'exec');
    const child = spawnPiped(rt.command, [...rt.args, '--log', logFile, '--log-format', 'json', 'exec', '--process', processFile, '--pid-file', pidFile, c.id], {
      stdin: attachStdin,
    });
    child.stdout.on('data', (d: Buffer) => io.write(1, d));
    child.stderr.on('data', (d: Buffer) => io.write(2, d));
    if (attachStdin && child.stdin) {
      const stdin = io.stdin!;
      const sink = child.stdin;
      sink.on('error', () => undefined);
      stdin.on('close', () => sink.end());
      forwardStdin(
        stdin,
        (d) => {
          if (!sink.destroyed) sink.write(d);
        },
        () => sink.end(),
      );
    }
    const readPid = async () => {
      for (let i = 0; i < 1500 && s.running && s.pid === 0; i++) {
        const text = await readFile(pidFile, 'utf8').catch(() => '');
        if (text.trim()) s.pid = Number(text.trim()) || 0;
        else await new Promise((r) => setTimeout(r, 20));
      }
    };
    void readPid();
    const exit = await child.closed;
    const code = exit.code ?? (exit.signal ? 128 + (signalNumber(exit.signal) ?? 9) : 1);
    if (s.pid === 0) s.pid = Number(readSmallFile(pidFile).trim()) || 0;
    const logged = runcLogError(logFile);
    const startError = logged === undefined ? undefined : runcWording(logged);
    if (startError !== undefined && (code === 255 || code === 1)) {
      const kind = classifyRuntimeError(startError);
      return { code: kind === 'not-found' ? 127 : 126, startError: `OCI runtime exec failed: ${startError}: unknown` };
    }
    return { code };
  }

  private async runTty(
    s: ExecSession,
    c: ContainerRecord,
    dir: string,
    processFile: string,
    io: ExecIo,
    consoleSize: [number, number] | null,
  ): Promise<{ code: number; startError?: string }> {
    const exec: ConmonExec = await startConmonExec({
      conmonPath: this.conmonPath,
      runtime: this.runtime.commandFor(c.id, 'exec'),
      containerId: c.id,
      sessionId: s.id,
      dir,
      processFile,
      stdin: Boolean(s.config.AttachStdin && io.stdin),
    });
    s.resize = (h, w) => exec.resize(h, w);
    if (consoleSize && consoleSize[0] > 0 && consoleSize[1] > 0) await exec.resize(consoleSize[0], consoleSize[1]).catch(() => undefined);
    exec.output.on('data', (d: Buffer) => io.write(1, d));
    if (s.config.AttachStdin && io.stdin) {
      forwardStdin(io.stdin, (d) => exec.write(d), () => exec.closeStdin());
    }
    const started = await exec.start();
    s.pid = started.pid;
    if (started.error) {
      const kind = classifyRuntimeError(started.error);
      return { code: kind === 'not-found' ? 127 : 126, startError: `OCI runtime exec failed: ${started.error}: unknown` };
    }
    const code = await exec.exited;
    return { code };
  }
}

function assertRunning(c: ContainerRecord): void {
  if (c.state.Status === 'paused') throw new ConflictError(`container ${c.id} is paused, unpause the container before exec`);
  if (c.state.Status === 'restarting') throw new ConflictError(`container ${c.id} is restarting, wait until the container is running`);
  if (c.state.Status !== 'running') throw new ConflictError(`container ${c.id} is not running`);
}

/**
 * A client's stdin to the exec'd process: its data, then its end. The hijacked socket may come
 * paused (readUpgradeJson pauses it when the body arrived apart from the headers, and a paused
 * stream stays paused when a 'data' listener is added) or already ended (a client that sent its
 * stdin and half-closed at once had its end read with the request): both are handled here.
 */
function forwardStdin(stdin: Readable, write: (data: Buffer) => void, end: () => void): void {
  stdin.on('data', write);
  stdin.on('end', end);
  if (stdin.readableEnded || stdin.destroyed) end();
  stdin.resume();
}

/** The last error runc logged (JSON log lines), if any. */
function runcLogError(path: string): string | undefined {
  const text = readSmallFile(path);
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if ((entry.level === 'error' || entry.level === 'fatal') && entry.msg) last = entry.msg;
    } catch {
      // not JSON
    }
  }
  return last;
}


/** A small file's text, '' when it is missing. */
function readSmallFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  return osConstants.signals[signal];
}
