// Run a helper program (crun/runc, iptables, ip) and collect its output; failures carry its stderr.
// With berth-sys.node the program is started by posix_spawn on a pool thread: Node's child_process
// forks berthd and holds the event loop until the child has exec'd (10-80 ms under load here).
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { SystemError } from '../util/errors.js';
import { sysAddon } from './sys.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string;
  cwd?: string;
}

/** Absolute paths of the programs run so far (posix_spawn takes a path, not a name). */
const resolved = new Map<string, string>();

export async function execFileCollect(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const sys = sysAddon();
  if (!sys) return execWithChildProcess(cmd, args, opts);
  let path = resolved.get(cmd);
  if (!path) {
    try {
      path = lookPath(cmd);
    } catch (err) {
      throw new SystemError(`${cmd}: spawn ${cmd} ENOENT`, { cause: err });
    }
    resolved.set(cmd, path);
  }
  let r;
  try {
    r = await sys.spawnAsync(path, args, null, { cwd: opts.cwd, input: opts.input });
  } catch (err) {
    resolved.delete(cmd);
    throw new SystemError(`${cmd}: ${(err as Error).message}`, { cause: err });
  }
  return { code: r.code >= 0 ? r.code : 1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function execWithChildProcess(cmd: string, args: string[], opts: ExecOptions): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (err) => reject(new SystemError(`${cmd}: ${err.message}`, { cause: err })));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** Run and require exit code 0. */
export async function execChecked(cmd: string, args: string[], opts: ExecOptions = {}): Promise<string> {
  const r = await execFileCollect(cmd, args, opts);
  if (r.code !== 0) throw new SystemError(`${cmd} ${args.join(' ')}: ${(r.stderr || r.stdout).trim() || `exit status ${r.code}`}`);
  return r.stdout;
}

/** Absolute path of a program on PATH (conmon insists on an absolute runtime path). */
export function lookPath(program: string): string {
  if (program.includes('/')) return program;
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const candidate = `${dir}/${program}`;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new SystemError(`${program}: executable file not found in $PATH`);
}

/** lookPath without the error: null when the program is not installed. */
export function lookPathOrNull(program: string): string | null {
  try {
    return lookPath(program);
  } catch {
    return null;
  }
}
