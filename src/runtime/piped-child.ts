// A child process whose stdout and stderr stream as it runs (an exec's `crun exec`), started
// without forking berthd.
//
// Node's child_process forks the daemon (copying the page tables of ~90 MB) and holds the event
// loop until the child has exec'd: ~10-20 ms per exec here. berth-sys.node's spawnPiped uses
// posix_spawn (a vfork) and hands back socket-pair descriptors, wrapped here as sockets (epoll, not pool
// threads). The child is reaped on SIGCHLD with waitpid(WNOHANG): nothing blocks while it runs.
// Without the addon it falls back to child_process.
import { spawn } from 'node:child_process';
import { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { SystemError } from '../util/errors.js';
import { lookPath } from './exec.js';
import { sysAddon } from './sys.js';

export interface PipedChild {
  pid: number;
  stdin: Writable | null;
  stdout: Readable;
  stderr: Readable;
  /** The exit status once the child ended and both output streams reached their end. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** Children started by spawnPiped that are not reaped yet, by pid. */
const pending = new Map<number, (exit: Exit) => void>();
let reaperInstalled = false;
/**
 * Held while children are pending: signal watchers do not keep Node's loop alive, so without it a
 * process with nothing else to do could end between a child's last output and its SIGCHLD. It also
 * looks again now and then, should a SIGCHLD ever go missing.
 */
let keepAlive: NodeJS.Timeout | undefined;

function signalName(n: number): NodeJS.Signals | null {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === n) return name as NodeJS.Signals;
  return null;
}

function reapPending(): void {
  const sys = sysAddon()!;
  for (const [pid, resolve] of pending) {
    let r: { code: number; signal: number } | null;
    try {
      r = sys.waitPid(pid);
    } catch {
      // ECHILD: someone else reaped it; its status is lost.
      r = { code: -1, signal: 0 };
    }
    if (!r) continue;
    pending.delete(pid);
    resolve(r.code >= 0 ? { code: r.code, signal: null } : { code: null, signal: signalName(r.signal) });
  }
  if (pending.size === 0 && keepAlive) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

function streamEnd(stream: Readable): Promise<void> {
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
}

export function spawnPiped(cmd: string, args: string[], opts: { stdin?: boolean } = {}): PipedChild {
  const sys = sysAddon();
  if (!sys) return spawnWithChildProcess(cmd, args, opts);
  if (!reaperInstalled) {
    // libuv keeps its own SIGCHLD watcher for child_process; a second one is allowed.
    process.on('SIGCHLD', reapPending);
    reaperInstalled = true;
  }
  let fds;
  try {
    fds = sys.spawnPiped(lookPath(cmd), args, null, { stdin: opts.stdin });
  } catch (err) {
    throw new SystemError(`${cmd}: ${(err as Error).message}`, { cause: err });
  }
  const exited = new Promise<Exit>((resolve) => pending.set(fds.pid, resolve));
  keepAlive ??= setInterval(reapPending, 1000);
  // The child may already be gone, its SIGCHLD delivered before it was registered.
  reapPending();
  const stdout = new Socket({ fd: fds.stdout, readable: true, writable: false });
  const stderr = new Socket({ fd: fds.stderr, readable: true, writable: false });
  const stdin = fds.stdin >= 0 ? new Socket({ fd: fds.stdin, readable: false, writable: true }) : null;
  const closed = Promise.all([exited, streamEnd(stdout), streamEnd(stderr)]).then(([exit]) => {
    stdin?.destroy();
    return exit;
  });
  return { pid: fds.pid, stdin, stdout, stderr, closed };
}

function spawnWithChildProcess(cmd: string, args: string[], opts: { stdin?: boolean }): PipedChild {
  const child = spawn(cmd, args, { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  const closed = new Promise<Exit>((resolve, reject) => {
    child.once('error', (err) => reject(new SystemError(`${cmd}: ${err.message}`, { cause: err })));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return { pid: child.pid ?? 0, stdin: child.stdin, stdout: child.stdout!, stderr: child.stderr!, closed };
}
