// An exec with a TTY, through `conmon --exec --exec-attach -t` (conmon 2.1, API version 1).
//
// runc hands the pty master over a --console-socket with SCM_RIGHTS, which Node cannot receive;
// conmon receives it and serves it on its attach socket. The handshake, as conmon implements it:
//   1. conmon blocks on _OCI_STARTPIPE until the parent writes once;
//   2. it binds <bundle>/attach and the <bundle>/ctl fifo, then writes {"data": 0} on _OCI_ATTACHPIPE;
//   3. the parent connects to the attach socket and writes _OCI_STARTPIPE again: only then does
//      conmon run `runc exec`, so no output is lost;
//   4. _OCI_SYNCPIPE gets {"data": <pid>} once runc started the process ({"data": -1, "message"}
//      when it could not), and {"data": <exit code>} when the process ended.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { SystemError } from '../util/errors.js';
import { runcMessage } from '../runtime/oci-runtime.js';
import { connectAttach, resizeTerminal } from '../runtime/attach.js';

export interface ConmonExecOptions {
  conmonPath: string;
  /** The container's runtime as OciRuntime.commandFor gives it: what conmon runs, and the args before the subcommand. */
  runtime: { command: string; args: string[] };
  containerId: string;
  sessionId: string;
  /** The exec's own directory: conmon's bundle (attach socket, ctl fifo), pid file, log, exit file. */
  dir: string;
  processFile: string;
  stdin: boolean;
}

export interface ConmonExec {
  /** The terminal's output. */
  output: Readable;
  write(data: Buffer): void;
  closeStdin(): void;
  resize(height: number, width: number): Promise<void>;
  /** Let the process run; resolves with its pid, or the runtime's error. */
  start(): Promise<{ pid: number; error?: string }>;
  /** The exit code, once the process ended and its output was delivered. */
  exited: Promise<number>;
}

/** Reads newline-separated JSON messages from a pipe. */
function messages(stream: Readable): { next(): Promise<{ data?: number; message?: string } | null> } {
  const queue: Array<{ data?: number; message?: string } | null> = [];
  const waiters: Array<(m: { data?: number; message?: string } | null) => void> = [];
  let buf = '';
  const deliver = (m: { data?: number; message?: string } | null) => {
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  };
  stream.on('data', (c: Buffer) => {
    buf += c.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      try {
        deliver(JSON.parse(line) as { data?: number; message?: string });
      } catch {
        // not a message
      }
    }
  });
  stream.on('end', () => deliver(null));
  stream.on('error', () => deliver(null));
  return {
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))),
  };
}

export async function startConmonExec(o: ConmonExecOptions): Promise<ConmonExec> {
  const args = [
    '--api-version', '1',
    '-c', o.containerId,
    '-u', o.sessionId,
    '-r', o.runtime.command,
    '-b', o.dir,
    '-p', join(o.dir, 'exec.pid'),
    '-l', `k8s-file:${join(o.dir, 'exec.log')}`,
    '--exit-dir', o.dir,
    '--socket-dir-path', o.dir,
    '--full-attach',
    '--no-sync-log',
    '--log-level', 'error',
    ...o.runtime.args.flatMap((a) => ['--runtime-arg', a]),
    '-e',
    '--exec-attach',
    '--exec-process-spec', o.processFile,
    '-t',
  ];
  if (o.stdin) args.push('-i');
  const child = spawn(o.conmonPath, args, {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4', _OCI_ATTACHPIPE: '5' },
    cwd: o.dir,
    detached: true,
  });
  child.unref();
  let stderr = '';
  (child.stderr as Readable).on('data', (c: Buffer) => {
    if (stderr.length < 16384) stderr += c.toString();
  });
  const sync = messages(child.stdio[3] as Readable);
  const attachPipe = messages((child.stdio as unknown as Readable[])[5]);
  const startPipe = child.stdio[4] as Writable;
  startPipe.on('error', () => undefined);
  const spawnError = new Promise<never>((_, reject) => child.on('error', (err) => reject(new SystemError(`conmon: ${err.message}`))));
  spawnError.catch(() => undefined);

  startPipe.write('0');
  const ready = await Promise.race([attachPipe.next(), spawnError]);
  if (!ready || ready.data !== 0) {
    throw new SystemError(`conmon exec: attach socket not ready: ${ready?.message ?? stderr.trim()}`);
  }
  const conn = await connectAttach(o.dir);
  const output = new PassThrough();
  conn.events.on('data', (_stream: number, data: Buffer) => output.write(data));
  const outputEnded = new Promise<void>((resolve) => conn.events.once('end', resolve));
  outputEnded.then(() => output.end());

  let exitResolve!: (code: number) => void;
  const exited = new Promise<number>((r) => (exitResolve = r));
  const cleanup = () => {
    for (const i of [2, 3, 4, 5]) (child.stdio as unknown as Array<Readable | Writable | null>)[i]?.destroy();
  };

  return {
    output,
    write: (d) => conn.write(d),
    closeStdin: () => conn.closeStdin(),
    resize: (h, w) => resizeTerminal(o.dir, h, w),
    async start() {
      startPipe.end('0');
      const first = await sync.next();
      if (!first || typeof first.data !== 'number' || first.data <= 0) {
        conn.close();
        cleanup();
        const msg = runcMessage(first?.message ?? stderr) || 'conmon exited without starting the process';
        exitResolve(126);
        return { pid: 0, error: msg };
      }
      void sync.next().then(async (m) => {
        const code = m && typeof m.data === 'number' ? m.data : 137;
        // The process is gone: let conmon's last output reach us, then close.
        await Promise.race([outputEnded, new Promise((r) => setTimeout(r, 500))]);
        conn.close();
        cleanup();
        exitResolve(code);
      });
      return { pid: first.data };
    },
    exited,
  };
}

