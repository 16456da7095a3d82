// Image routes beyond pull/list/inspect/delete: tag, history, prune, save (get), load, and the
// import form of /images/create (fromSrc). Kept together so images.ts stays small for merges.
import { Readable } from 'node:stream';
import type { Daemon } from '../daemon/daemon.js';
import { importImage } from '../images/import.js';
import { loadImages } from '../images/load.js';
import { checkSavable, saveImages, selectImages } from '../images/save.js';
import type { StoredImage } from '../images/store.js';
import { parseReference } from '../registry/reference.js';
import type { ImageReference } from '../registry/types.js';
import { InvalidParameterError } from '../util/errors.js';
import { logger } from '../util/log.js';
import type { Router } from './router.js';
import { type ApiContext, boolQuery, commonHeaders, drainRequest, jsonMessageStream, sendJson, sendNoContent } from './http.js';

const log = logger('api');

/** docker's `filters` query: {"key": {"v": true}} or {"key": ["v"]} → key → values. */
export function parseFilters(ctx: ApiContext): Map<string, string[]> {
  const raw = ctx.query.get('filters');
  const out = new Map<string, string[]>();
  if (!raw) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new InvalidParameterError(`invalid filter: ${raw}`);
  }
  if (typeof parsed !== 'object' || parsed === null) throw new InvalidParameterError(`invalid filter: ${raw}`);
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(v)) out.set(k, v.map(String));
    else if (v && typeof v === 'object') out.set(k, Object.keys(v));
  }
  return out;
}

/** docker's `until` filter value: a duration ("24h", "10m") back from now, a unix time or RFC 3339. */
export function untilTime(value: string, now = Date.now()): number {
  const dur = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$/.exec(value);
  if (dur) {
    const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
    return now - Number(dur[1]) * unit[dur[2]!]!;
  }
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new InvalidParameterError(`invalid filter 'until=${value}'`);
  return t;
}

/** label=key, label=key=value, label!=...: does this image pass? */
function labelsMatch(labels: Record<string, string>, filters: Map<string, string[]>): boolean {
  const check = (spec: string) => {
    const eq = spec.indexOf('=');
    if (eq < 0) return spec in labels;
    return labels[spec.slice(0, eq)] === spec.slice(eq + 1);
  };
  for (const spec of filters.get('label') ?? []) if (!check(spec)) return false;
  for (const spec of filters.get('label!') ?? []) if (check(spec)) return false;
  return true;
}

function optionalRef(repo: string | null, tag: string | null): ImageReference | undefined {
  if (!repo) return undefined;
  const ref = parseReference(tag ? `${repo}:${tag}` : repo);
  if (ref.digest) throw new InvalidParameterError('refusing to create a tag with a digest reference');
  return ref;
}

/** POST /images/create?fromSrc=-|URL: docker import. */
export async function handleImport(ctx: ApiContext, daemon: Daemon): Promise<void> {
  const fromSrc = ctx.query.get('fromSrc')!;
  const ref = optionalRef(ctx.query.get('repo'), ctx.query.get('tag'));
  const changes = ctx.query.getAll('changes');
  const message = ctx.query.get('message') ?? '';
  const platform = ctx.query.get('platform');
  if (platform && !['linux', 'linux/amd64', 'linux/x86_64'].includes(platform)) {
    throw new InvalidParameterError(`image platform ${platform} is not supported: berth makes linux/amd64 images`);
  }
  let source: Readable;
  const stream = jsonMessageStream(ctx);
  const write = stream.write;
  if (fromSrc === '-') {
    source = ctx.req;
  } else {
    let url: URL;
    try {
      url = new URL(fromSrc);
    } catch {
      throw new InvalidParameterError(`invalid import source ${JSON.stringify(fromSrc)}: not "-" or a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidParameterError(`invalid import source ${fromSrc}: only http and https URLs`);
    const response = await fetch(url, { redirect: 'follow' });
    if (!response.ok || !response.body) throw new InvalidParameterError(`import from ${fromSrc}: HTTP ${response.status}`);
    write({ status: 'Downloading', progressDetail: {}, id: '' });
    source = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  }
  try {
    const id = await importImage(
      { content: daemon.content, snapshots: daemon.snapshots, images: daemon.images, dataRoot: daemon.config.dataRoot },
      source,
      { changes, message, source: fromSrc, ref },
    );
    write({ status: id });
    stream.end();
  } catch (err) {
    if (fromSrc === '-') await drainRequest(ctx.req);
    stream.fail(err);
  }
}

export function registerImageIoRoutes(router: Router, daemon: Daemon): void {
  const deps = () => ({ content: daemon.content, snapshots: daemon.snapshots, images: daemon.images, dataRoot: daemon.config.dataRoot });

  // POST /images/{name}/tag lives in push.ts.
  router.add('GET', '/images/{name*}/history', async (ctx) => {
    sendJson(ctx, 200, await daemon.images.history(ctx.params.name));
  });

  router.add('POST', '/images/prune', async (ctx) => {
    const filters = parseFilters(ctx);
    for (const key of filters.keys()) {
      if (!['dangling', 'until', 'label', 'label!'].includes(key)) throw new InvalidParameterError(`invalid filter '${key}'`);
    }
    const dangling = filters.get('dangling')?.[0];
    const all = dangling !== undefined && ['false', '0'].includes(dangling.toLowerCase());
    const until = filters.get('until')?.[0];
    const untilMs = until ? untilTime(until) : undefined;
    const keep = (image: StoredImage) => {
      if (untilMs !== undefined && Date.parse(image.record.created || '1970-01-01T00:00:00Z') >= untilMs) return true;
      return !labelsMatch(image.config.config?.Labels ?? {}, filters);
    };
    const { deleted, spaceReclaimed } = await daemon.images.prune({ all, keep });
    sendJson(ctx, 200, { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: spaceReclaimed });
  });

  const save = (ctx: ApiContext, names: string[]) => {
    if (names.length === 0) throw new InvalidParameterError('no images named to save');
    const selected = selectImages(daemon.images, names);
    checkSavable(daemon.content, selected);
    const tar = saveImages(deps(), selected);
    const res = ctx.res!;
    res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/x-tar' });
    tar.on('error', (err) => {
      log.warn({ err }, 'save stream failed');
      res.destroy(err);
    });
    tar.pipe(res);
  };
  router.add('GET', '/images/get', (ctx) => save(ctx, ctx.query.getAll('names').flatMap((n) => n.split(',')).filter(Boolean)));
  router.add('GET', '/images/{name*}/get', (ctx) => save(ctx, [ctx.params.name]));

  router.add('POST', '/images/load', async (ctx) => {
    const quiet = boolQuery(ctx, 'quiet');
    const result = await loadImages(deps(), ctx.req).catch(async (err: unknown) => {
      await drainRequest(ctx.req);
      throw err;
    });
    const res = ctx.res!;
    res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/json' });
    for (const m of result.messages) res.write(JSON.stringify({ stream: `${m}\n` }) + '\r\n');
    void quiet; // docker's quiet only drops progress bars, which berth's load does not send
    res.end();
  });
}
