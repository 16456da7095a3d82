// One request context for both plain requests and hijacked (upgraded) ones, so every route can
// answer errors in docker's JSON shape whichever way the client connected.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import { BerthError, errorMessage, InvalidParameterError, statusOf } from '../util/errors.js';
export { compareVersions, versionBefore } from '../util/version.js';

export const API_VERSION = '1.47';
export const MIN_API_VERSION = '1.24';

export interface ApiContext {
  req: IncomingMessage;
  /** Present for ordinary requests. */
  res?: ServerResponse;
  /** Present when the client asked to upgrade the connection (attach, exec start). */
  socket?: Duplex;
  head?: Buffer;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The API version the request was made under (from the path prefix, else the newest). */
  version: string;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 304: 'Not Modified', 400: 'Bad Request', 401: 'Unauthorized',
  403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 500: 'Internal Server Error', 501: 'Not Implemented',
};

export function commonHeaders(): Record<string, string> {
  return {
    'Api-Version': API_VERSION,
    'Docker-Experimental': 'false',
    Ostype: 'linux',
    Server: `Berth/${process.env.npm_package_version ?? '0.1.0'} (linux)`,
  };
}

/**
 * docker's JSON-message stream (the progress of pull, push, import): status 200 goes out with the
 * first message (preceded by `first`, when given), so a failure before it is still a plain error
 * response; after it, `fail` ends the stream with a final {errorDetail, error} message.
 */
export function jsonMessageStream(ctx: ApiContext, first?: Record<string, unknown>) {
  const res = ctx.res!;
  let started = false;
  const line = (msg: Record<string, unknown>) => res.write(JSON.stringify(msg) + '\r\n');
  return {
    write(msg: Record<string, unknown>): void {
      if (!started) {
        started = true;
        res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/json' });
        if (first) line(first);
      }
      line(msg);
    },
    end(): void {
      res.end();
    },
    /** Rethrows while nothing was sent (the router answers with the error's status). */
    fail(err: unknown): void {
      if (!started) throw err;
      const message = errorMessage(err);
      res.end(JSON.stringify({ errorDetail: { message }, error: message }) + '\r\n');
    },
  };
}

export function sendJson(ctx: ApiContext, status: number, body: unknown): void {
  const payload = body === undefined ? '' : JSON.stringify(body) + '\n';
  const headers: Record<string, string> = { ...commonHeaders() };
  if (payload) headers['Content-Type'] = 'application/json';
  sendRaw(ctx, status, headers, payload);
}

export function sendNoContent(ctx: ApiContext, status = 204): void {
  sendRaw(ctx, status, commonHeaders(), '');
}

function sendRaw(ctx: ApiContext, status: number, headers: Record<string, string>, body: string): void {
  if (ctx.res) {
    if (ctx.res.headersSent) {
      ctx.res.end();
      return;
    }
    ctx.res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
    ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body);
    return;
  }
  const socket = ctx.socket!;
  if (socket.destroyed) return;
  const lines = [`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Status'}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', '', '');
  socket.end(lines.join('\r\n') + body);
}

/** docker's error body: {"message": "..."} with the error's status. */
export function sendError(ctx: ApiContext, err: unknown): void {
  sendJson(ctx, statusOf(err), { message: errorMessage(err) });
}

export async function readBody(req: IncomingMessage, limit = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new InvalidParameterError(`request body larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Parse a JSON body; an empty body is `{}` (docker accepts that for most POSTs). */
export async function readJson<T>(ctx: ApiContext): Promise<T> {
  const buf = await readBody(ctx.req);
  if (buf.length === 0) return {} as T;
  try {
    const value: unknown = JSON.parse(buf.toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new InvalidParameterError('invalid JSON: expected an object');
    }
    return value as T;
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw new InvalidParameterError(`invalid JSON: ${(err as Error).message}`);
  }
}

/** docker's boolean query parsing: "1", "true", "True" are true; "", "0", "false" are false. */
export function boolQuery(ctx: ApiContext, name: string, fallback = false): boolean {
  const v = ctx.query.get(name);
  if (v === null) return fallback;
  const lower = v.toLowerCase();
  return !(lower === '' || lower === '0' || lower === 'false' || lower === 'no');
}

export function intQuery(ctx: ApiContext, name: string): number | undefined {
  const v = ctx.query.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidParameterError(`invalid value for ${name}: ${JSON.stringify(v)}`);
  return n;
}


/**
 * Take over the connection for a raw stream: 101 UPGRADED for clients that asked to upgrade
 * (docker CLI), or a 200 streaming response for those that did not (older docker-py).
 * Returns the duplex to write frames to and read stdin from.
 */
export function hijack(ctx: ApiContext, contentType: string): Duplex {
  if (ctx.socket) {
    const headers = [
      'HTTP/1.1 101 UPGRADED',
      `Content-Type: ${contentType}`,
      'Connection: Upgrade',
      'Upgrade: tcp',
      ...Object.entries(commonHeaders()).map(([k, v]) => `${k}: ${v}`),
      '',
      '',
    ];
    ctx.socket.write(headers.join('\r\n'));
    if (ctx.head && ctx.head.length > 0) ctx.socket.unshift(ctx.head);
    return ctx.socket;
  }
  const res = ctx.res!;
  res.writeHead(200, { ...commonHeaders(), 'Content-Type': contentType });
  res.flushHeaders();
  // The response is the writable side; the request is the readable side.
  return new HijackedResponse(ctx);
}

class HijackedResponse extends Duplex {
  constructor(private readonly ctx: ApiContext) {
    super();
    ctx.req.on('data', (chunk: Buffer) => this.push(chunk));
    ctx.req.on('end', () => this.push(null));
    ctx.res!.on('close', () => this.destroy());
  }
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.ctx.res!.write(chunk, cb);
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.ctx.res!.end(cb);
  }
}

/**
 * Reads and drops the rest of a request body, so an error answered before an upload ended reaches
 * the client instead of a broken pipe (docker load/import/cp stream large bodies).
 */
export async function drainRequest(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return;
  await new Promise<void>((resolve) => {
    req.once('end', resolve);
    req.once('close', resolve);
    req.once('error', () => resolve());
    req.unpipe();
    req.resume();
  });
}
