// Routes for both 'request' and 'upgrade' events: docker clients hijack the same URLs they
// otherwise call plainly, so one table serves both.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { InvalidParameterError, NotFoundError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { compareVersions } from '../util/version.js';
import { API_VERSION, type ApiContext, MIN_API_VERSION, sendError } from './http.js';

export type Handler = (ctx: ApiContext) => Promise<void> | void;

interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

const VERSION_PREFIX = /^\/v(\d+\.\d+)(\/.*)$/;

export class Router {
  private readonly routes: Route[] = [];

  constructor(private readonly log: Logger) {}

  /** Path patterns use `{name}` segments; `{name*}` matches the rest of the path (image names have slashes). */
  add(method: string, path: string, handler: Handler): void {
    const keys: string[] = [];
    const source = path.replace(/\{(\w+)(\*)?\}/g, (_m, key: string, rest?: string) => {
      keys.push(key);
      return rest ? '(.+)' : '([^/]+)';
    });
    this.routes.push({ method, pattern: new RegExp(`^${source}$`), keys, handler });
  }

  handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    void this.dispatch(req, { res });
  };

  handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', (err) => this.log.debug({ err }, 'hijacked connection error'));
    void this.dispatch(req, { socket, head });
  };

  private async dispatch(req: IncomingMessage, conn: { res?: ServerResponse; socket?: Duplex; head?: Buffer }): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://berth');
    let path = decodeURIComponent(url.pathname);
    let version = API_VERSION;
    const ctx: ApiContext = { req, ...conn, params: {}, query: url.searchParams, version };
    try {
      const m = VERSION_PREFIX.exec(path);
      if (m) {
        version = m[1];
        path = m[2];
        ctx.version = version;
        if (compareVersions(version, API_VERSION) > 0) {
          throw new InvalidParameterError(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
        }
        if (compareVersions(version, MIN_API_VERSION) < 0) {
          throw new InvalidParameterError(`client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
        }
      }
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
      let pathMatched = false;
      for (const route of this.routes) {
        const match = route.pattern.exec(path);
        if (!match) continue;
        pathMatched = true;
        if (route.method !== method && !(route.method === 'HEAD' && req.method === 'HEAD')) continue;
        route.keys.forEach((k, i) => (ctx.params[k] = match[i + 1]));
        const started = process.hrtime.bigint();
        await route.handler(ctx);
        this.log.debug({ method: req.method, path, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'request');
        return;
      }
      // docker answers unknown paths with 404 and a JSON message; wrong method on a known path too.
      throw new NotFoundError(pathMatched ? `page not found` : 'page not found');
    } catch (err) {
      this.log.debug({ err, method: req.method, path }, 'request failed');
      sendError(ctx, err);
    }
  }
}
