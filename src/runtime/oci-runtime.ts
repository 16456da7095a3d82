// conmon + runc. conmon runs `runc create`, then stays as the container's monitor: it holds its
// stdio, writes the log, and records the exit code in the exit dir, so containers outlive berthd.
import { spawn } from 'node:child_process';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, SystemError } from '../util/errors.js';
import { logger } from '../util/log.js';
import { execFileCollect, lookPath } from './exec.js';

const log = logger('runtime');

export type RuntimeErrorKind = 'not-found' | 'permission' | 'other';

/** The container's process could not be started; the message keeps runc's words. */
export class RuntimeExecError extends BerthError {
  constructor(message: string, readonly kind: RuntimeErrorKind) {
    super(message, kind === 'other' ? 500 : 400);
  }
}

export interface RuntimeOptions {
  runcPath: string;
  conmonPath: string;
  runcRoot: string;
  /** conmon's per-container state: pidfiles, attach sockets, persist dirs. */
  stateDir: string;
}

export interface RuncState {
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
}

/** runc logs logrus lines (`time=... level=error msg="..."`): keep the message itself. */
export function runcMessage(stderr: string): string {
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(stderr);
  if (!m) return stderr.trim();
  try {
    return JSON.parse(`"${m[1]}"`) as string;
  } catch {
    return m[1];
  }
}

export function classifyRuntimeError(message: string): RuntimeErrorKind {
  if (/executable file not found|no such file or directory/.test(message)) return 'not-found';
  if (/permission denied/.test(message)) return 'permission';
  return 'other';
}

export class OciRuntime {
  private watcher?: FSWatcher;

  private readonly opts: RuntimeOptions;

  constructor(opts: RuntimeOptions) {
    this.opts = { ...opts, runcPath: lookPath(opts.runcPath), conmonPath: lookPath(opts.conmonPath) };
  }

  private runc(args: string[]) {
    return execFileCollect(this.opts.runcPath, ['--root', this.opts.runcRoot, ...args]);
  }

  /** Create the container through conmon; resolves with the container's init pid. */
  async create(id: string, o: { bundleDir: string; logPath: string; exitDir: string; name?: string; terminal?: boolean }): Promise<{ pid: number }> {
    const dir = join(this.opts.stateDir, id);
    await mkdir(dir, { recursive: true });
    const args = [
      '--api-version', '1',
      '-c', id,
      '-u', id,
      '-r', this.opts.runcPath,
      '-b', o.bundleDir,
      '-p', join(dir, 'pidfile'),
      '-P', join(dir, 'conmon.pid'),
      '-l', `k8s-file:${o.logPath}`,
      '--exit-dir', o.exitDir,
      '--persist-dir', dir,
      '--socket-dir-path', dir,
      '--full-attach',
      '--no-sync-log',
      '--log-level', 'error',
      '--runtime-arg', `--root=${this.opts.runcRoot}`,
    ];
    if (o.name) args.push('-n', o.name);
    if (o.terminal) args.push('-t');
    const child = spawn(this.opts.conmonPath, args, {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, _OCI_SYNCPIPE: '3' },
      detached: true,
    });
    child.unref();
    const sync = child.stdio[3] as NodeJS.ReadableStream;
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const text = await new Promise<string>((resolve, reject) => {
      let buf = '';
      sync.on('data', (c: Buffer) => {
        buf += c.toString();
        if (buf.includes('\n') || /}\s*$/.test(buf)) resolve(buf);
      });
      sync.on('end', () => resolve(buf));
      sync.on('error', reject);
      child.on('error', (err) => reject(new SystemError(`conmon: ${err.message}`)));
    });
    (sync as unknown as { destroy(): void }).destroy();
    child.stderr!.destroy();
    let parsed: { data?: number; message?: string };
    try {
      parsed = JSON.parse(text.trim().split('\n')[0]) as { data?: number; message?: string };
    } catch {
      throw new SystemError(`conmon failed to create container ${id}: ${stderr.trim() || text.trim() || 'no response'}`);
    }
    if (!parsed.data || parsed.data < 0) {
      const message = runcMessage(parsed.message ?? stderr) || 'unknown runtime error';
      throw new RuntimeExecError(`failed to create task for container: OCI runtime create failed: ${message}`, classifyRuntimeError(message));
    }
    return { pid: parsed.data };
  }

  async start(id: string): Promise<void> {
    const r = await this.runc(['start', id]);
    if (r.code !== 0) {
      const message = runcMessage(r.stderr);
      throw new RuntimeExecError(`OCI runtime start failed: ${message}`, classifyRuntimeError(message));
    }
  }

  async kill(id: string, signal: string): Promise<void> {
    const r = await this.runc(['kill', id, signal.replace(/^SIG/, '')]);
    if (r.code !== 0) throw new SystemError(`runc kill ${id} ${signal}: ${r.stderr.trim()}`);
  }

  async delete(id: string, o: { force: boolean }): Promise<void> {
    const r = await this.runc(o.force ? ['delete', '--force', id] : ['delete', id]);
    if (r.code !== 0 && !/does not exist|not found/.test(r.stderr)) throw new SystemError(`runc delete ${id}: ${r.stderr.trim()}`);
  }

  async state(id: string): Promise<RuncState | null> {
    const r = await this.runc(['state', id]);
    if (r.code !== 0) return null;
    return JSON.parse(r.stdout) as RuncState;
  }

  async wasOomKilled(id: string): Promise<boolean> {
    try {
      await readFile(join(this.opts.stateDir, id, 'oom'));
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

  /**
   * Report each exit file conmon writes. A scan at start reports exits that happened while
   * berthd was away; the watcher reports new ones, with a slow poll as a safety net.
   */
  watchExits(exitDir: string, onExit: (id: string, code: number) => void): void {
    // Exit handling is idempotent on the caller's side, so repeated events for one file are fine.
    const check = async (name: string) => {
      if (!/^[a-f0-9]{64}$/.test(name)) return;
      const code = await this.readExitCode(exitDir, name);
      if (code !== null) onExit(name, code);
    };
    const scan = async () => {
      for (const n of await readdir(exitDir).catch(() => [] as string[])) await check(n);
    };
    void scan();
    this.watcher = watch(exitDir, (_event, name) => {
      if (name) void check(name.toString()).catch((err) => log.warn({ err }, 'exit file check failed'));
    });
    setInterval(() => void scan(), 2000).unref();
  }

  close(): void {
    this.watcher?.close();
  }
}
