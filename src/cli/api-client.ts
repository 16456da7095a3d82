// Minimal Engine API client: HTTP/1.1 over a unix socket (or tcp://), JSON helpers, JSON-lines
// streaming, the attach hijack (HTTP upgrade) and docker's 8-byte stream frame demuxer.
// node:http is enough and cheap to load; keep this module free of heavy imports, it is on the
// `berth run` startup path.
import { request as httpRequest, type IncomingMessage, type ClientRequest } from 'node:http';
import { connect, type Socket } from 'node:net';

export const DEFAULT_HOST = 'unix:///run/berth/berth.sock';

/** An error answer from the daemon: HTTP status and docker's {"message": ...}. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
  /** What the docker CLI prints for daemon errors. */
  get display(): string {
    return `Error response from daemon: ${this.message}`;
  }
}

/** The daemon could not be reached at all. */
export class ConnectError extends Error {
  constructor(readonly host: string, readonly code: string | undefined, cause?: unknown) {
    super(
      code === 'EACCES'
        ? `permission denied while trying to connect to the berth daemon socket at ${host}`
        : `Cannot connect to the berth daemon at ${host}. Is the berth daemon running?`,
      { cause },
    );
  }
}

export interface Endpoint {
  url: string;
  socketPath?: string;
  hostname?: string;
  port?: number;
}

export function parseHost(host: string): Endpoint {
  if (host.startsWith('unix://')) return { url: host, socketPath: host.slice('unix://'.length) };
  if (host.startsWith('/')) return { url: `unix://${host}`, socketPath: host };
  const m = /^(?:tcp|http):\/\/([^:/]+|\[[^\]]+\])(?::(\d+))?\/?$/.exec(host);
  if (m) return { url: host, hostname: m[1].replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 2375 };
  throw new Error(`unsupported host: ${host} (use unix:///path or tcp://host:port)`);
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  /** A raw request body (a tar for load, import, cp), sent chunked instead of `body`. */
  stream?: NodeJS.ReadableStream;
}

function queryString(query?: Query): string {
  if (!query) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === false) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(v === true ? '1' : String(v))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

const CONNECT_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTFOUND', 'ECONNRESET', 'EHOSTUNREACH']);

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

export class ApiClient {
  /** Called once when the daemon does not answer; may start it (autostart) and return true to retry. */
  onConnectError?: (err: ConnectError) => Promise<boolean>;
  private retried = false;

  constructor(readonly endpoint: Endpoint) {}

  /**
   * A fresh connection per request, made by us rather than by an http.Agent: the Agent's
   * servername check runs net.isIPv6 on the Host header, whose first use compiles a regex that
   * costs ~12 ms of `berth run`'s startup. Unix-socket connects are cheap enough not to pool.
   */
  private baseOptions(method: string, path: string, headers: Record<string, string>) {
    const e = this.endpoint;
    return {
      method,
      path,
      createConnection: () => (e.socketPath ? connect(e.socketPath) : connect(e.port!, e.hostname!)),
      headers: { Host: e.socketPath ? 'api.berth' : `${e.hostname}:${e.port}`, 'User-Agent': 'berth-cli', ...headers },
    };
  }

  private async withRetry<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ConnectError && this.onConnectError && !this.retried) {
        this.retried = true;
        if (await this.onConnectError(err)) return fn();
      }
      throw err;
    }
  }

  private toConnectError(err: NodeJS.ErrnoException): Error {
    if (err.code && CONNECT_CODES.has(err.code)) return new ConnectError(this.endpoint.url, err.code, err);
    return err;
  }

  /** One request; resolves with the response once headers arrive. Errors (>= 400) throw ApiError. */
  request(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    return this.withRetry(() => this.requestOnce(method, path, opts));
  }

  private requestOnce(method: string, path: string, opts: RequestOptions): Promise<IncomingMessage> {
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = { ...opts.headers };
    if (body) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(body.length);
    }
    return new Promise((resolve, reject) => {
      const req = httpRequest(this.baseOptions(method, path + queryString(opts.query), headers), (res) => {
        const status = res.statusCode ?? 0;
        if (status < 400) return resolve(res);
        readAll(res).then((buf) => reject(errorFromBody(status, buf)), reject);
      });
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.toConnectError(err)));
      if (opts.stream) {
        opts.stream.on('error', (err: Error) => req.destroy(err));
        opts.stream.pipe(req);
      } else {
        req.end(body);
      }
    });
  }

  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    const buf = await readAll(res);
    if (buf.length === 0) return undefined as T;
    return JSON.parse(buf.toString('utf8')) as T;
  }

  /** A request whose answer body is ignored (204s: start, delete). */
  async call(method: string, path: string, opts: RequestOptions = {}): Promise<number> {
    const res = await this.request(method, path, opts);
    res.resume();
    await new Promise<void>((resolve) => (res.complete ? resolve() : res.once('end', resolve)));
    return res.statusCode ?? 0;
  }

  /**
   * Hijack the connection (attach): Connection: Upgrade / Upgrade: tcp, expect 101, then the raw
   * socket carries the stream. Bytes that arrived with the 101 are in `head`.
   */
  upgrade(method: string, path: string, opts: RequestOptions = {}): Promise<{ socket: Socket; head: Buffer }> {
    return this.withRetry(
      () =>
        new Promise((resolve, reject) => {
          const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
          const headers: Record<string, string> = { Connection: 'Upgrade', Upgrade: 'tcp', ...opts.headers };
          if (body) {
            headers['Content-Type'] = 'application/json';
            headers['Content-Length'] = String(body.length);
          }
          const req: ClientRequest = httpRequest({
            ...this.baseOptions(method, path + queryString(opts.query), headers),
          });
          req.on('upgrade', (_res, socket: Socket, head: Buffer) => resolve({ socket, head }));
          req.on('response', (res) => {
            // A daemon may answer a hijack without upgrading (errors, or plain streaming).
            const status = res.statusCode ?? 0;
            if (status >= 400) readAll(res).then((buf) => reject(errorFromBody(status, buf)), reject);
            else resolve({ socket: res.socket as Socket, head: Buffer.alloc(0) });
          });
          req.on('error', (err: NodeJS.ErrnoException) => reject(this.toConnectError(err)));
          req.end(body);
        }),
    );
  }

}

function errorFromBody(status: number, buf: Buffer): ApiError {
  const text = buf.toString('utf8').trim();
  try {
    const parsed = JSON.parse(text) as { message?: string };
    if (parsed && typeof parsed.message === 'string') return new ApiError(status, parsed.message);
  } catch {
    // Not JSON: docker shows the raw body.
  }
  return new ApiError(status, text || `HTTP ${status}`);
}

/** Parse a stream of JSON values separated by newlines (docker's progress streams). */
export async function* jsonLines<T = unknown>(res: AsyncIterable<Buffer | string>): AsyncGenerator<T> {
  let buf = '';
  for await (const chunk of res) {
    buf += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield JSON.parse(line) as T;
    }
  }
  const rest = buf.trim();
  if (rest) yield JSON.parse(rest) as T;
}

/**
 * docker's stdcopy demultiplexer: frames of [stream, 0, 0, 0, size uint32 BE] + payload.
 * Push chunks as they arrive; complete payloads go to onFrame (stream 0 = stdin echo, 1 = stdout,
 * 2 = stderr, 3 = systemerr).
 */
export class FrameDemuxer {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (stream: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      this.onFrame(buf[0], buf.subarray(8, 8 + size));
      buf = buf.subarray(8 + size);
    }
    this.pending = buf.length ? Buffer.from(buf) : Buffer.alloc(0);
  }

  /** Bytes of an incomplete frame left at the end of the stream. */
  get leftover(): number {
    return this.pending.length;
  }
}
