// Container file routes: export, changes (diff), archive (cp: GET/HEAD/PUT) and commit.
import { basename } from 'node:path';
import type { Daemon } from '../daemon/daemon.js';
import {
  containerChanges,
  containerDirs,
  exportTar,
  resolveInRoot,
  statInRoot,
  tarTree,
  upperLayerTar,
  withContainerRoot,
} from '../containers/archive.js';
import type { ContainerRecord } from '../containers/model.js';
import { commitImage } from '../images/import.js';
import type { ContainerDefaults } from '../images/oci.js';
import { applyLayer } from '../images/unpack.js';
import { parseReference } from '../registry/reference.js';
import { BerthError, InvalidParameterError, NotFoundError } from '../util/errors.js';
import { logger } from '../util/log.js';
import type { Router } from './router.js';
import { type ApiContext, boolQuery, commonHeaders, drainRequest, readBody, sendJson } from './http.js';
import type { Readable } from 'node:stream';
import * as fs from 'node:fs';

const log = logger('api');

function streamTar(ctx: ApiContext, tar: Readable, extraHeaders: Record<string, string> = {}): Promise<void> {
  const res = ctx.res!;
  return new Promise((resolve) => {
    let headersSent = false;
    const sendHeaders = () => {
      if (headersSent) return;
      headersSent = true;
      res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/x-tar', ...extraHeaders });
    };
    tar.once('readable', sendHeaders);
    tar.on('error', (err) => {
      log.warn({ err }, 'tar stream failed');
      if (!headersSent) {
        headersSent = true;
        const status = err instanceof BerthError ? err.status : 500;
        res.writeHead(status, { ...commonHeaders(), 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ message: err.message }) + '\n');
      } else {
        res.destroy(err);
      }
      resolve();
    });
    tar.on('end', () => {
      sendHeaders();
      resolve();
    });
    res.on('close', () => {
      tar.destroy();
      resolve();
    });
    tar.pipe(res);
  });
}

function statHeader(stat: object): string {
  return Buffer.from(JSON.stringify(stat)).toString('base64');
}

export function registerArchiveRoutes(router: Router, daemon: Daemon): void {
  const rootDeps = { dataRoot: daemon.config.dataRoot, snapshots: daemon.snapshots };
  const notFound = (c: ContainerRecord, path: string) => new NotFoundError(`Could not find the file ${path} in container ${c.name}`);

  router.add('GET', '/containers/{id}/export', async (ctx) => {
    const c = daemon.containers.get(ctx.params.id);
    await withContainerRoot(c, rootDeps, 'ro', (root) => streamTar(ctx, exportTar(root)));
  });

  router.add('GET', '/containers/{id}/changes', async (ctx) => {
    const c = daemon.containers.get(ctx.params.id);
    const dirs = containerDirs(daemon.config.dataRoot, c.id);
    const lowers = c.chainIds.slice().reverse().map((chain) => daemon.snapshots.diffPath(chain));
    const changes = await containerChanges(dirs.upper, lowers);
    sendJson(ctx, 200, changes);
  });

  // GET (and HEAD, through the router) /containers/{id}/archive?path=: a tar of the path, its stat in a header.
  router.add('GET', '/containers/{id}/archive', async (ctx) => {
    const c = daemon.containers.get(ctx.params.id);
    const path = ctx.query.get('path');
    if (!path) throw new InvalidParameterError('path is required');
    await withContainerRoot(c, rootDeps, 'ro', async (root) => {
      let found: ReturnType<typeof statInRoot>;
      try {
        found = statInRoot(root, path.startsWith('/') ? path : `/${path}`);
      } catch (err) {
        if (err instanceof NotFoundError) throw notFound(c, path);
        throw err;
      }
      const header = { 'X-Docker-Container-Path-Stat': statHeader(found.stat) };
      if (ctx.req.method === 'HEAD') {
        ctx.res!.writeHead(200, { ...commonHeaders(), ...header, 'Content-Type': 'application/json' });
        ctx.res!.end();
        return;
      }
      // "dir/." copies the directory's contents: docker names them "./..." in the tar.
      const rename = path.endsWith('/.') ? '.' : basename(found.inside) || '.';
      await streamTar(ctx, tarTree(found.host, { rename, root, insidePath: found.inside }), header);
    });
  });

  router.add('PUT', '/containers/{id}/archive', (ctx) =>
    putArchive(ctx).catch(async (err: unknown) => {
      // Take the rest of the upload first, so the client reads the answer, not a broken pipe.
      await drainRequest(ctx.req);
      throw err;
    }),
  );
  const putArchive = async (ctx: ApiContext) => {
    const c = daemon.containers.get(ctx.params.id);
    const path = ctx.query.get('path');
    if (!path) throw new InvalidParameterError('path is required');
    const copyUIDGID = boolQuery(ctx, 'copyUIDGID');
    if (c.hostConfig.ReadonlyRootfs) throw new BerthError('container rootfs is marked read-only', 403);
    await withContainerRoot(c, rootDeps, 'rw', async (root) => {
      const { host } = resolveInRoot(root, path.startsWith('/') ? path : `/${path}`, true);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(host);
      } catch {
        throw notFound(c, path);
      }
      if (!st.isDirectory()) throw new InvalidParameterError('extraction point is not a directory');
      await applyLayer(ctx.req, host, { whiteouts: false, owner: copyUIDGID ? undefined : { uid: 0, gid: 0 } });
      sendJson(ctx, 200, undefined);
    });
  };

  router.add('POST', '/commit', async (ctx) => {
    const name = ctx.query.get('container');
    if (!name) throw new InvalidParameterError('container is required');
    const c = daemon.containers.get(name);
    const repo = ctx.query.get('repo');
    const tag = ctx.query.get('tag');
    const ref = repo ? parseReference(tag ? `${repo}:${tag}` : repo) : undefined;
    if (ref?.digest) throw new InvalidParameterError('refusing to create a tag with a digest reference');
    const raw = await readBody(ctx.req);
    let body: Record<string, unknown> = {};
    if (raw.length > 0) {
      try {
        body = (JSON.parse(raw.toString('utf8')) as Record<string, unknown> | null) ?? {};
      } catch (err) {
        throw new InvalidParameterError(`invalid JSON: ${(err as Error).message}`);
      }
    }
    const base = daemon.images.resolve(c.imageId);
    if (!base) throw new NotFoundError(`No such image: ${c.imageId} (the container's image was removed)`);
    const cc = c.config;
    const cmd = Array.isArray(cc.Cmd) ? cc.Cmd : cc.Cmd ? [cc.Cmd] : [];
    const entrypoint = Array.isArray(cc.Entrypoint) ? cc.Entrypoint : cc.Entrypoint ? [cc.Entrypoint] : null;
    const defaults: ContainerDefaults = {
      ...(base.config.config ?? {}),
      User: cc.User ?? '',
      ExposedPorts: cc.ExposedPorts ?? undefined,
      Env: cc.Env ?? [],
      Cmd: cmd,
      Entrypoint: entrypoint,
      Volumes: cc.Volumes ?? undefined,
      WorkingDir: cc.WorkingDir ?? '',
      Labels: cc.Labels ?? undefined,
      StopSignal: cc.StopSignal,
      OnBuild: cc.OnBuild ?? null,
      ...(body as ContainerDefaults),
    };
    for (const k of Object.keys(defaults) as Array<keyof ContainerDefaults>) if (defaults[k] === undefined) delete defaults[k];
    const dirs = containerDirs(daemon.config.dataRoot, c.id);
    const id = await commitImage(
      { content: daemon.content, snapshots: daemon.snapshots, images: daemon.images, dataRoot: daemon.config.dataRoot },
      {
        base,
        layer: upperLayerTar(dirs.upper),
        containerId: c.id,
        config: defaults,
        createdBy: cmd.join(' '),
        changes: ctx.query.getAll('changes'),
        author: ctx.query.get('author') ?? '',
        comment: ctx.query.get('comment') ?? '',
        ref,
      },
    );
    sendJson(ctx, 201, { Id: id });
  });
}
