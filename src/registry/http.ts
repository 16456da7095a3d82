// The registry client's HTTP: node's own http/https with keep-alive pools, one request at a time
// answering { statusCode, headers, body } with the body unread (a stream: blobs are piped on).
//
// Node's http client rather than undici: undici parses HTTP with llhttp compiled to WebAssembly
// and, once loaded, keeps ~20 MiB of berthd's RSS for good (measured: an idle node goes from 40 to
// 61 MiB on importing it, against 44 MiB for node:http); node:http uses the same parser natively.
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type AgentOptions as HttpsAgentOptions } from 'node:https';
import type { Socket } from 'node:net';
import { pipeline, type Readable } from 'node:stream';

export interface HttpResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

export type HttpAgentLike = HttpAgent | HttpsAgent;

/** No connection within this long: the request fails with ETIMEDOUT. */
const CONNECT_TIMEOUT_MS = 15_000;
/** No byte sent or received for this long, headers or body: the request fails with ETIMEDOUT. */
const IDLE_TIMEOUT_MS = 120_000;
const POOL = { keepAlive: true, keepAliveMsecs: 30_000, maxSockets: 32, maxFreeSockets: 32, scheduling: 'lifo' as const };

export function plainAgent(): HttpAgent {
  return new HttpAgent(POOL);
}

/** A TLS pool; `tls` are tls.connect options (ca, cert, key, rejectUnauthorized). */
export function tlsAgent(tls: HttpsAgentOptions = {}): HttpsAgent {
  return new HttpsAgent({ ...POOL, ...tls });
}

function timeoutError(what: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${what} timed out`), { code: 'ETIMEDOUT' });
}

/**
 * One request. `body` may be a Buffer, a string or a stream (sent chunked unless the caller set a
 * Content-Length). Network errors reject with node's error (its `code`: ECONNREFUSED, ...).
 */
export function sendRequest(
  url: string,
  o: { method: string; headers: Record<string, string | undefined>; agent: HttpAgentLike; signal?: AbortSignal; body?: Buffer | string | Readable },
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.headers)) if (v !== undefined) headers[k] = v;
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = send(url, { method: o.method, headers, agent: o.agent, signal: o.signal });
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(timeoutError(`${o.method} ${url}`)));
    req.once('socket', (socket: Socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(() => req.destroy(timeoutError(`connect to ${new URL(url).host}`)), CONNECT_TIMEOUT_MS);
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
    req.once('error', reject);
    req.once('response', (res) => resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: res }));
    const body = o.body;
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
      req.end(body);
    } else {
      pipeline(body, req, (err) => {
        if (err) req.destroy(err);
      });
    }
  });
}

/** Reads and drops up to `limit` bytes of a body so its connection can be reused, else closes it. */
export function discardBody(body: IncomingMessage, limit = 64 * 1024): Promise<void> {
  return new Promise((resolve) => {
    if (body.complete || body.destroyed) return resolve();
    let seen = 0;
    body.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limit) body.destroy();
    });
    body.once('end', resolve);
    body.once('close', resolve);
    body.once('error', () => resolve());
  });
}
