// /images/*: pull (create), list, inspect, delete.
import type { Daemon } from '../daemon/daemon.js';
import type { PullProgress } from '../images/pull.js';
import { familiarString, parseReference } from '../registry/reference.js';
import type { RegistryAuth } from '../registry/types.js';
import { InvalidParameterError, NotFoundError } from '../util/errors.js';
import { humanSize } from '../util/human.js';
import { handleImport } from './images-io.js';
import type { Router } from './router.js';
import { type ApiContext, boolQuery, jsonMessageStream, sendJson } from './http.js';

/** X-Registry-Auth: base64url(JSON AuthConfig), as the docker CLI sends it. */
export function registryAuthFrom(ctx: ApiContext): RegistryAuth | undefined {
  const header = ctx.req.headers['x-registry-auth'];
  if (typeof header !== 'string' || header === '') return undefined;
  try {
    const json = Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    const parsed = JSON.parse(json) as RegistryAuth;
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    // docker ignores an unreadable auth header rather than failing the pull.
    return undefined;
  }
}

export function progressBar(current: number, total: number): string {
  if (!total) return '';
  const width = 50;
  const filled = Math.min(width, Math.floor((current / total) * width));
  const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? (filled === width ? '=' : '>') : '') + ' '.repeat(width - filled);
  return `[${bar}] ${humanSize(current)}/${humanSize(total)}`;
}

export function registerImageRoutes(router: Router, daemon: Daemon): void {
  router.add('POST', '/images/create', async (ctx) => {
    const fromImage = ctx.query.get('fromImage');
    if (ctx.query.get('fromSrc') !== null) return handleImport(ctx, daemon);
    if (!fromImage) throw new InvalidParameterError('"fromImage" is required');
    const tag = ctx.query.get('tag') ?? '';
    let refText = fromImage;
    if (tag) refText = tag.startsWith('sha256:') ? `${fromImage}@${tag}` : `${fromImage}:${tag}`;
    const ref = parseReference(refText);
    const platform = ctx.query.get('platform');
    if (platform && platform !== 'linux/amd64' && platform !== 'linux/x86_64' && platform !== 'linux') {
      throw new InvalidParameterError(`image platform ${platform} is not supported: berth runs linux/amd64 images`);
    }
    const stream = jsonMessageStream(ctx, { status: `Pulling from ${ref.path}`, id: ref.digest ?? ref.tag });
    const write = stream.write;
    const onProgress = (ev: PullProgress) => {
      const msg: Record<string, unknown> = { status: ev.status, progressDetail: ev.progressDetail ?? {}, id: ev.id };
      if (ev.progressDetail?.total) msg.progress = progressBar(ev.progressDetail.current, ev.progressDetail.total);
      write(msg);
    };
    try {
      const outcome = await daemon.pulls.pull(ref, { auth: registryAuthFrom(ctx), onProgress });
      const shown = familiarString(ref);
      daemon.events.emit('image', 'pull', { ID: shown, Attributes: { name: familiarString({ ...ref, tag: undefined, digest: undefined }) } });
      write({ status: `Digest: ${outcome.repoDigest}` });
      write({ status: outcome.updated ? `Status: Downloaded newer image for ${shown}` : `Status: Image is up to date for ${shown}` });
      stream.end();
    } catch (err) {
      stream.fail(err);
    }
  });

  router.add('GET', '/images/json', (ctx) => {
    const all = daemon.images.list();
    const dangling = filterValue(ctx, 'dangling');
    const reference = filterValue(ctx, 'reference');
    const out = all
      .map((img) => daemon.images.summary(img, ctx.version))
      .filter((s) => {
        const tags = s.RepoTags as string[];
        if (dangling === 'true' && tags.length > 0) return false;
        if (dangling === 'false' && tags.length === 0) return false;
        if (reference && !tags.some((t) => matchReference(t, reference))) return false;
        return true;
      })
      .sort((a, b) => (b.Created as number) - (a.Created as number));
    sendJson(ctx, 200, out);
  });

  router.add('GET', '/images/{name*}/json', (ctx) => {
    const image = daemon.images.get(ctx.params.name);
    sendJson(ctx, 200, daemon.images.inspect(image, ctx.version));
  });

  router.add('DELETE', '/images/{name*}', async (ctx) => {
    const name = ctx.params.name;
    if (!daemon.images.resolveId(name)) throw new NotFoundError(`No such image: ${name}`);
    const imageId = daemon.images.resolveId(name);
    const result = await daemon.images.delete(name, boolQuery(ctx, 'force'));
    for (const r of result) {
      if ('Untagged' in r) daemon.events.emit('image', 'untag', { ID: imageId ?? r.Untagged, Attributes: { name: r.Untagged } });
      else daemon.events.emit('image', 'delete', { ID: r.Deleted, Attributes: { name: r.Deleted } });
    }
    sendJson(ctx, 200, result);
  });
}

/** Read one value of docker's `filters` query ({"dangling":{"true":true}} or {"dangling":["true"]}). */
function filterValue(ctx: ApiContext, key: string): string | undefined {
  const raw = ctx.query.get('filters');
  if (!raw) return undefined;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    throw new InvalidParameterError(`invalid filter: ${raw}`);
  }
  const v = parsed[key];
  if (Array.isArray(v)) return v[0] as string | undefined;
  if (v && typeof v === 'object') return Object.keys(v)[0];
  return undefined;
}

function matchReference(tag: string, pattern: string): boolean {
  const re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*') + '(:.*)?$');
  return re.test(tag);
}
