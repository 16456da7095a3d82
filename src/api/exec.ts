// /containers/{id}/exec, /exec/{id}/start|resize|json: docker exec over the Engine API, and
// /containers/{id}/resize for a container's TTY.
// `exec start` is hijacked like attach: multiplexed frames without a TTY, the raw stream with one.
import type { Daemon } from '../daemon/daemon.js';
import type { ExecConfig } from '../containers/exec.js';
import { frame } from '../runtime/logs.js';
import { resizeTerminal } from '../runtime/attach.js';
import { ConflictError, InvalidParameterError } from '../util/errors.js';
import { logger } from '../util/log.js';
import type { Router } from './router.js';
import { type ApiContext, hijack, intQuery, readJson, sendJson, sendNoContent } from './http.js';

const log = logger('api');

/**
 * The JSON body of a hijacked request: Node hands an upgrade request over without reading its
 * body, which is in `head` and on the socket (Content-Length bytes). What follows is the stream.
 */
export async function readUpgradeJson<T>(ctx: ApiContext): Promise<T> {
  if (!ctx.socket) return readJson<T>(ctx);
  const length = Number(ctx.req.headers['content-length'] ?? 0);
  let buf = ctx.head ?? Buffer.alloc(0);
  if (length > 0) {
    const socket = ctx.socket;
    while (buf.length < length) {
      const chunk = await new Promise<Buffer | null>((resolve) => {
        const onData = (c: Buffer) => done(c);
        const onEnd = () => done(null);
        const done = (c: Buffer | null) => {
          socket.off('data', onData);
          socket.off('end', onEnd);
          socket.pause();
          resolve(c);
        };
        socket.on('data', onData);
        socket.once('end', onEnd);
        socket.resume();
      });
      if (!chunk) break;
      buf = Buffer.concat([buf, chunk]);
    }
  }
  const body = buf.subarray(0, length);
  ctx.head = Buffer.from(buf.subarray(length));
  if (body.length === 0) return {} as T;
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected an object');
    return v as T;
  } catch (err) {
    throw new InvalidParameterError(`invalid JSON: ${(err as Error).message}`);
  }
}

export function registerExecRoutes(router: Router, daemon: Daemon): void {
  const execs = daemon.execs;

  router.add('POST', '/containers/{id}/exec', async (ctx) => {
    const body = await readJson<ExecConfig>(ctx);
    const id = execs.create(ctx.params.id, body);
    sendJson(ctx, 201, { Id: id });
  });

  router.add('GET', '/exec/{id}/json', (ctx) => {
    sendJson(ctx, 200, execs.inspect(ctx.params.id));
  });

  router.add('POST', '/exec/{id}/resize', async (ctx) => {
    const s = execs.get(ctx.params.id);
    const h = intQuery(ctx, 'h') ?? 0;
    const w = intQuery(ctx, 'w') ?? 0;
    if (h < 0 || w < 0) throw new InvalidParameterError('invalid terminal size');
    if (s.resize) await s.resize(h, w).catch((err) => log.debug({ err }, 'exec resize failed'));
    sendNoContent(ctx, 200);
  });

  router.add('POST', '/containers/{id}/resize', async (ctx) => {
    const c = daemon.containers.get(ctx.params.id);
    const h = intQuery(ctx, 'h') ?? 0;
    const w = intQuery(ctx, 'w') ?? 0;
    if (h < 0 || w < 0) throw new InvalidParameterError('invalid terminal size');
    if (c.state.Status !== 'running' && c.state.Status !== 'paused') throw new ConflictError(`container ${c.id} is not running`);
    if (c.config.Tty) {
      await resizeTerminal(daemon.containers.bundleDir(c.id), h, w).catch((err) => log.debug({ err, id: c.id }, 'resize failed'));
    }
    sendNoContent(ctx, 200);
  });

  router.add('POST', '/exec/{id}/start', async (ctx) => {
    const body = await readUpgradeJson<{ Detach?: boolean; Tty?: boolean; ConsoleSize?: [number, number] | null }>(ctx);
    const s = execs.checkStartable(ctx.params.id);
    const tty = body.Tty ?? s.config.Tty ?? false;
    if (body.Detach) {
      void execs
        .start(s.id, { write: () => undefined }, { tty, consoleSize: body.ConsoleSize })
        .catch((err) => log.warn({ err, id: s.id }, 'detached exec failed'));
      sendJson(ctx, 200, undefined);
      return;
    }
    const stream = hijack(ctx, tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    stream.on('error', () => undefined);
    if (!s.config.AttachStdin) stream.resume();
    const attachOut = s.config.AttachStdout !== false;
    const attachErr = s.config.AttachStderr !== false;
    const write = (n: 1 | 2, data: Buffer) => {
      if (stream.destroyed || !stream.writable) return;
      if (n === 1 ? !attachOut : !attachErr) return;
      stream.write(tty ? data : frame(n, data));
    };
    try {
      await execs.start(s.id, { stdin: s.config.AttachStdin ? stream : undefined, write }, {
        tty,
        consoleSize: body.ConsoleSize,
        // dockerd writes the runtime's error to the stream, then the exit code tells 126/127.
        onStartError: (message) => write(1, Buffer.from(`${message}\r\n`)),
      });
    } catch (err) {
      log.warn({ err, id: s.id }, 'exec failed');
      write(1, Buffer.from(`${(err as Error).message}\r\n`));
    }
    stream.end();
  });
}
