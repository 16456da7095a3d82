// POST /build: the build context streams in as a tar (plain or compressed), or as a bare Dockerfile
// (`docker build - < Dockerfile`); the answer is the classic builder's JSON stream: {"stream"} step
// text, {"status"} pull progress, {"aux": {"ID"}} and {"errorDetail", "error"} on failure.
import * as fsp from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { IgnoreMatcher } from '../build/dockerignore.js';
import { BuildError, type Builder } from '../build/executor.js';
import { applyLayer, decompressStream } from '../images/unpack.js';
import { parseReference } from '../registry/reference.js';
import { resolveInRootfs } from '../runtime/spec.js';
import { BerthError, errorMessage, InvalidParameterError, UnsafeLayerError } from '../util/errors.js';
import { logger } from '../util/log.js';
import type { Router } from './router.js';
import { type ApiContext, boolQuery, commonHeaders } from './http.js';

const log = logger('api-build');

function jsonQuery(ctx: ApiContext, name: string): Record<string, string | null> {
  const raw = ctx.query.get(name);
  if (!raw) return {};
  try {
    const v = JSON.parse(raw) as unknown;
    if (v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, string | null>;
  } catch {
    throw new InvalidParameterError(`invalid ${name} parameter: ${raw}`);
  }
}

/** Reads the first bytes to tell a (compressed) tar from a bare Dockerfile; returns a stream of all bytes. */
async function sniffBody(body: Readable): Promise<{ kind: 'tar' | 'dockerfile'; stream: Readable }> {
  // Read the head without consuming the stream for good: what was read is put back.
  const head = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let len = 0;
    const done = () => {
      body.off('data', onData);
      body.off('end', done);
      body.off('error', reject);
      body.pause();
      resolve(Buffer.concat(chunks));
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      len += c.length;
      if (len >= 512) done();
    };
    body.on('data', onData);
    body.once('end', done);
    body.once('error', reject);
  });
  const compressed = (head[0] === 0x1f && head[1] === 0x8b) || (head.length >= 4 && head.readUInt32BE(0) === 0x28b52ffd);
  const tar = compressed || (head.length >= 262 && head.toString('latin1', 257, 262) === 'ustar') || head.length === 0;
  const stream = new PassThrough();
  stream.write(head);
  if (body.readableEnded) stream.end();
  else {
    body.pipe(stream);
    body.resume();
  }
  return { kind: tar ? 'tar' : 'dockerfile', stream };
}

export function registerBuildRoutes(router: Router, builder: Builder): void {
  router.add('POST', '/build', async (ctx) => {
    const tags = ctx.query.getAll('t').filter((t) => t !== '');
    for (const t of tags) {
      const ref = parseReference(t);
      if (ref.digest) throw new InvalidParameterError(`invalid reference format: ${t}: a build tag cannot have a digest`);
    }
    if (ctx.query.get('remote')) throw new InvalidParameterError('remote build contexts (git, URLs) are not supported by berth');
    const platform = ctx.query.get('platform');
    if (platform && !['linux/amd64', 'linux/x86_64', 'linux'].includes(platform)) {
      throw new InvalidParameterError(`platform ${platform} is not supported: berth builds linux/amd64 images`);
    }
    const version = ctx.query.get('version');
    if (version === '2') throw new InvalidParameterError('BuildKit (builder version 2) is not supported by berth: use the classic builder (DOCKER_BUILDKIT=0)');
    const buildArgs = jsonQuery(ctx, 'buildargs');
    const labels = jsonQuery(ctx, 'labels') as Record<string, string>;
    const quiet = boolQuery(ctx, 'q');
    const dockerfileName = ctx.query.get('dockerfile') || 'Dockerfile';

    const res = ctx.res!;
    res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/json' });
    const write = (msg: Record<string, unknown>) => {
      if (!res.writableEnded) res.write(JSON.stringify(msg) + '\r\n');
    };
    const contextDir = join(builder.tmpRoot, `context-${randomBytes(8).toString('hex')}`);
    // The client hanging up (Ctrl-C) cancels the build, as it does docker's.
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    try {
      await fsp.mkdir(contextDir, { recursive: true, mode: 0o700 });
      const body = await sniffBody(ctx.req);
      let dockerfile: string;
      let shownName = dockerfileName;
      if (body.kind === 'dockerfile') {
        const chunks: Buffer[] = [];
        for await (const c of body.stream) chunks.push(c as Buffer);
        dockerfile = Buffer.concat(chunks).toString('utf8');
      } else {
        try {
          await applyLayer(body.stream.pipe(decompressStream()), contextDir);
        } catch (err) {
          if (err instanceof UnsafeLayerError) throw new BuildError(`the build context is not a safe tar: ${err.message.replace(/^layer /, '')}`);
          throw new BuildError(`cannot read the build context: ${errorMessage(err)}`);
        }
        const rel = posix.normalize(`/${dockerfileName}`).slice(1);
        shownName = rel;
        const path = await resolveInRootfs(contextDir, rel);
        try {
          dockerfile = await fsp.readFile(path, 'utf8');
        } catch {
          throw new BuildError(`Cannot locate specified Dockerfile: ${dockerfileName}`);
        }
        // moby: a .dockerignore'd Dockerfile and .dockerignore itself are not part of the context.
        const ignoreText = await fsp.readFile(join(contextDir, '.dockerignore'), 'utf8').catch(() => undefined);
        if (ignoreText !== undefined) {
          const m = IgnoreMatcher.fromText(ignoreText);
          for (const p of [rel, '.dockerignore']) if (m.matches(p)) await fsp.rm(join(contextDir, p), { force: true });
        }
      }
      const result = await builder.build(
        { contextDir, dockerfile, dockerfileName: shownName, tags, buildArgs, target: ctx.query.get('target') || undefined, noCache: boolQuery(ctx, 'nocache'), pull: boolQuery(ctx, 'pull'), labels, signal: abort.signal },
        {
          stream: (text) => {
            if (!quiet) write({ stream: text });
          },
          status: (msg) => {
            if (!quiet) write(msg);
          },
          aux: (msg) => write({ aux: msg }),
        },
      );
      // moby: with -q the output is just the image ID (the docker CLI prints and --iidfile's it).
      if (quiet) write({ stream: `${result.id}\n` });
    } catch (err) {
      const message = errorMessage(err);
      const detail: Record<string, unknown> = { message };
      if (err instanceof BuildError && err.exitCode !== undefined) detail.code = err.exitCode;
      if (!(err instanceof BerthError)) log.error({ err }, 'build failed');
      write({ errorDetail: detail, error: message });
    } finally {
      res.end();
      await fsp.rm(contextDir, { recursive: true, force: true }).catch(() => undefined);
    }
  });
}
