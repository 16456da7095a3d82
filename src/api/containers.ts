// /containers/*: create, start, wait, attach, logs, list, inspect, stop, kill, delete.
import type { Duplex } from 'node:stream';
import type { Daemon } from '../daemon/daemon.js';
import { containerInspect, containerSummary } from '../containers/inspect.js';
import { join } from 'node:path';
import { emitContainerEvent } from '../containers/events.js';
import { diskUsage } from '../containers/ops.js';
import { filterContainers, PS_FILTERS } from '../containers/filters.js';
import { isLive, type CreateRequest, type WaitCondition } from '../containers/manager.js';
import type { ContainerConfig, HostConfig } from '../containers/model.js';
import { attachStdin, parseDetachKeys } from '../containers/stdio.js';
import { frame, readLogEntries, type LogEntry } from '../runtime/logs.js';
import { BerthError, InvalidParameterError } from '../util/errors.js';
import { recordLogPolicy } from '../containers/log-config.js';
import { logger } from '../util/log.js';
import { Filters, parseTimestamp } from './filters.js';
import type { Router } from './router.js';
import { type ApiContext, boolQuery, commonHeaders, hijack, intQuery, readJson, sendJson, sendNoContent } from './http.js';

const log = logger('api');

type CreateBody = ContainerConfig & { HostConfig?: HostConfig; NetworkingConfig?: unknown };

const STRING_ARRAY_FIELDS = ['Env', 'Cmd', 'Entrypoint'] as const;

function validateCreateBody(body: CreateBody): void {
  if (typeof body.Image !== 'string' || body.Image === '') {
    throw new InvalidParameterError('config cannot be empty in order to create a container');
  }
  for (const field of STRING_ARRAY_FIELDS) {
    const v = body[field];
    if (v === undefined || v === null || typeof v === 'string') continue;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
      throw new InvalidParameterError(`json: cannot unmarshal ${typeof v} into Go struct field ContainerConfig.${field} of type []string`);
    }
  }
  if (body.HostConfig !== undefined && (typeof body.HostConfig !== 'object' || body.HostConfig === null || Array.isArray(body.HostConfig))) {
    throw new InvalidParameterError('json: cannot unmarshal HostConfig: expected an object');
  }
}

/** Docker's `since`/`until`: unix seconds with up to nine decimals, RFC 3339 or a duration; 0 is unset. */
function timeQuery(ctx: ApiContext, name: string): bigint | undefined {
  const v = ctx.query.get(name);
  if (v === null || v === '' || v === '0') return undefined;
  return parseTimestamp(v, name);
}

function streamFilter(ctx: ApiContext): { stdout: boolean; stderr: boolean } {
  return { stdout: boolQuery(ctx, 'stdout'), stderr: boolQuery(ctx, 'stderr') };
}

async function pumpLogs(
  out: Duplex | NodeJS.WritableStream,
  entries: AsyncIterable<LogEntry>,
  opts: { stdout: boolean; stderr: boolean; tty: boolean; timestamps: boolean },
): Promise<void> {
  for await (const entry of entries) {
    if (entry.stream === 'stdout' ? !opts.stdout : !opts.stderr) continue;
    const payload = opts.timestamps ? Buffer.concat([Buffer.from(`${entry.timestamp} `), entry.line]) : entry.line;
    const chunk = opts.tty ? payload : frame(entry.stream === 'stdout' ? 1 : 2, payload);
    if (!(out as NodeJS.WritableStream).write(chunk)) {
      // A client that goes away never drains: stop on close too, so the handler does not hang.
      const closed = await new Promise<boolean>((resolve) => {
        const stream = out as NodeJS.WritableStream;
        const onDrain = () => done(false);
        const onClose = () => done(true);
        const done = (c: boolean) => {
          stream.off('drain', onDrain);
          stream.off('close', onClose);
          resolve(c);
        };
        stream.once('drain', onDrain);
        stream.once('close', onClose);
      });
      if (closed) return;
    }
  }
}

export function registerContainerRoutes(router: Router, daemon: Daemon): void {
  const containers = daemon.containers;

  router.add('POST', '/containers/create', async (ctx) => {
    const body = await readJson<CreateBody>(ctx);
    validateCreateBody(body);
    const { HostConfig: hostConfig, NetworkingConfig: networkingConfig, ...config } = body;
    const req: CreateRequest = {
      name: ctx.query.get('name') ?? undefined,
      config,
      hostConfig: hostConfig ?? {},
      networkingConfig: networkingConfig as CreateRequest['networkingConfig'],
    };
    const { id, warnings } = await containers.create(req);
    sendJson(ctx, 201, { Id: id, Warnings: warnings });
  });

  router.add('GET', '/containers/json', (ctx) => {
    const filters = Filters.parse(ctx.query.get('filters'), PS_FILTERS);
    // A status filter names the states it wants: it implies all.
    const all = boolQuery(ctx, 'all') || filters.has('status');
    const limit = intQuery(ctx, 'limit');
    let list = filterContainers(
      containers.list().filter((c) => all || (limit !== undefined && limit > 0) || isLive(c.state.Status)),
      filters,
      { images: daemon.images, find: (v) => containers.find(v) },
    ).sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0)); // ISO times: byte order is time order
    if (limit !== undefined && limit > 0) list = list.slice(0, limit);
    sendJson(ctx, 200, list.map((c) => containerSummary(c)));
  });

  router.add('GET', '/containers/{id}/json', async (ctx) => {
    const c = containers.get(ctx.params.id);
    const lowerDirs = c.chainIds.slice().reverse().map((id) => daemon.snapshots.diffPath(id));
    const body = containerInspect(c, { dataRoot: daemon.config.dataRoot, lowerDirs });
    if (boolQuery(ctx, 'size')) {
      // docker inspect --size: the writable layer, and that plus the image.
      const sizeRw = await diskUsage(join(daemon.config.dataRoot, 'containers', c.id, 'upper'));
      body.SizeRw = sizeRw;
      body.SizeRootFs = sizeRw + (daemon.images.resolve(c.imageId)?.record.size ?? 0);
    }
    const execIds = daemon.execs.idsOf(c.id);
    if (execIds.length > 0) body.ExecIDs = execIds;
    sendJson(ctx, 200, body);
  });

  router.add('POST', '/containers/{id}/start', async (ctx) => {
    const result = await containers.start(ctx.params.id);
    sendNoContent(ctx, result === 'already' ? 304 : 204);
  });

  router.add('POST', '/containers/{id}/stop', async (ctx) => {
    const result = await containers.stop(ctx.params.id, intQuery(ctx, 't'), ctx.query.get('signal') ?? undefined);
    sendNoContent(ctx, result === 'already' ? 304 : 204);
  });

  router.add('POST', '/containers/{id}/kill', async (ctx) => {
    await containers.kill(ctx.params.id, ctx.query.get('signal') || 'SIGKILL');
    sendNoContent(ctx);
  });

  router.add('POST', '/containers/{id}/wait', async (ctx) => {
    const condition = (ctx.query.get('condition') || 'not-running') as WaitCondition;
    if (!['not-running', 'next-exit', 'removed'].includes(condition)) {
      throw new InvalidParameterError(`invalid condition: "${condition}"`);
    }
    containers.get(ctx.params.id);
    // Headers go out at once, as dockerd does, so the client knows the wait is in place.
    const res = ctx.res!;
    res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/json' });
    res.flushHeaders();
    const result = await containers.wait(ctx.params.id, condition);
    res.end(JSON.stringify(result) + '\n');
  });

  router.add('DELETE', '/containers/{id}', async (ctx) => {
    await containers.remove(ctx.params.id, { force: boolQuery(ctx, 'force'), volumes: boolQuery(ctx, 'v') });
    sendNoContent(ctx);
  });

  router.add('GET', '/containers/{id}/logs', async (ctx) => {
    const c = containers.get(ctx.params.id);
    const { stdout, stderr } = streamFilter(ctx);
    if (!stdout && !stderr) throw new InvalidParameterError('You must choose at least one stream');
    if (!recordLogPolicy(c.hostConfig).readable) throw new BerthError('configured logging driver does not support reading', 501);
    const tailText = ctx.query.get('tail');
    const tail = tailText === null || tailText === '' || tailText === 'all' ? undefined : Number(tailText);
    if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) throw new InvalidParameterError(`invalid value for tail: ${tailText}`);
    const follow = boolQuery(ctx, 'follow');
    const tty = c.config.Tty ?? false;
    // Parsed before the headers go out, so a bad value is a 400.
    const sinceNano = timeQuery(ctx, 'since');
    const untilNano = timeQuery(ctx, 'until');
    const res = ctx.res!;
    res.writeHead(200, {
      ...commonHeaders(),
      'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream',
    });
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const running = c.state.Status === 'running' || c.state.Status === 'paused';
    const entries = readLogEntries(c.logPath, {
      sinceNano,
      untilNano,
      tail,
      follow: follow && running,
      untilExited: containers.exited(c.id),
      signal: abort.signal,
    });
    try {
      await pumpLogs(res, entries, { stdout, stderr, tty, timestamps: boolQuery(ctx, 'timestamps') });
    } catch (err) {
      if (!abort.signal.aborted) log.warn({ err, id: c.id }, 'log stream failed');
    }
    res.end();
  });

  router.add('POST', '/containers/{id}/attach', async (ctx) => {
    const c = containers.get(ctx.params.id);
    const { stdout, stderr } = streamFilter(ctx);
    const tty = c.config.Tty ?? false;
    const attachedAt = Date.now();
    const stream = hijack(ctx, tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    emitContainerEvent(daemon.events, c, 'attach');
    const abort = new AbortController();
    stream.on('close', () => abort.abort());
    stream.on('error', () => abort.abort());
    // stdin goes to the container through conmon (when it was created with OpenStdin); otherwise
    // whatever the client sends is drained so the connection stays healthy.
    const stdin = boolQuery(ctx, 'stdin') && c.config.OpenStdin
      ? attachStdin(containers, c.id, stream, { detachKeys: parseDetachKeys(ctx.query.get('detachKeys')) })
      : undefined;
    if (!stdin) stream.resume();
    void stdin?.done.then((why) => {
      if (why === 'detached') abort.abort();
    });
    try {
      if (boolQuery(ctx, 'logs')) {
        await pumpLogs(stream, readLogEntries(c.logPath, { signal: abort.signal }), { stdout, stderr, tty, timestamps: false });
      }
      if (boolQuery(ctx, 'stream')) {
        // Output since the attach, until the run that is going on (or about to start) ends.
        const entries = readLogEntries(c.logPath, {
          since: attachedAt,
          follow: true,
          untilExited: containers.endOfRun(c.id),
          signal: abort.signal,
          partial: true,
        });
        await pumpLogs(stream, entries, { stdout, stderr, tty, timestamps: false });
      }
    } catch (err) {
      if (!abort.signal.aborted) log.warn({ err, id: c.id }, 'attach stream failed');
    }
    stream.end();
  });
}
