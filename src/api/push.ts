// POST /images/{name}/push: docker's push progress stream (JSON lines), errors inside the stream
// once it started, as dockerd does.
import type { Daemon } from '../daemon/daemon.js';
import type { PushMessage } from '../images/push-service.js';
import { errorMessage, InvalidParameterError } from '../util/errors.js';
import { parseReference } from '../registry/reference.js';
import { jsonMessageStream, sendNoContent } from './http.js';
import { progressBar, registryAuthFrom } from './images.js';
import type { Router } from './router.js';

export function registerPushRoutes(router: Router, daemon: Daemon): void {
  // POST /images/{name}/tag?repo=&tag=: a push goes to the repository an image is tagged with.
  router.add('POST', '/images/{name*}/tag', (ctx) => {
    const image = daemon.images.get(ctx.params.name);
    const repo = ctx.query.get('repo');
    if (!repo) throw new InvalidParameterError('repository name (repo) is required');
    const tag = ctx.query.get('tag') || 'latest';
    if (tag.startsWith('sha256:') || !/^[\w][\w.-]{0,127}$/.test(tag)) throw new InvalidParameterError(`invalid tag format: ${tag}`);
    let ref;
    try {
      ref = parseReference(`${repo}:${tag}`);
    } catch (err) {
      throw new InvalidParameterError(errorMessage(err));
    }
    if (ref.digest || repo.includes('@')) throw new InvalidParameterError('refusing to create a tag with a digest reference');
    daemon.images.add(image.record, ref);
    sendNoContent(ctx, 201);
  });

  router.add('POST', '/images/{name*}/push', async (ctx) => {
    const name = ctx.params.name;
    const tag = ctx.query.get('tag') || undefined;
    const res = ctx.res!;
    const stream = jsonMessageStream(ctx);
    const write = stream.write;
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort(new Error('client went away'));
    });
    const onMessage = (m: PushMessage) => {
      const msg: Record<string, unknown> = { ...m };
      if (m.status === 'Pushing' && m.progressDetail?.total) msg.progress = progressBar(m.progressDetail.current ?? 0, m.progressDetail.total);
      write(msg);
    };
    try {
      await daemon.pushes.push(name, tag, { auth: registryAuthFrom(ctx), signal: abort.signal, onMessage });
      stream.end();
    } catch (err) {
      stream.fail(err);
    }
  });
}
