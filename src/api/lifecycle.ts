// /containers/{id}/pause|unpause|restart|rename|top and /containers/prune.
import type { Daemon } from '../daemon/daemon.js';
import * as ops from '../containers/ops.js';
import { top } from '../containers/top.js';
import { InvalidParameterError } from '../util/errors.js';
import { Filters } from './filters.js';
import { intQuery, sendJson, sendNoContent } from './http.js';
import type { Router } from './router.js';

export function registerLifecycleRoutes(router: Router, daemon: Daemon): void {
  const containers = daemon.containers;

  router.add('POST', '/containers/{id}/pause', async (ctx) => {
    await ops.pause(containers, ctx.params.id);
    sendNoContent(ctx);
  });

  router.add('POST', '/containers/{id}/unpause', async (ctx) => {
    await ops.unpause(containers, ctx.params.id);
    sendNoContent(ctx);
  });

  router.add('POST', '/containers/{id}/restart', async (ctx) => {
    await ops.restart(containers, ctx.params.id, intQuery(ctx, 't'), ctx.query.get('signal') || undefined);
    sendNoContent(ctx);
  });

  router.add('POST', '/containers/{id}/rename', (ctx) => {
    const name = ctx.query.get('name');
    containers.get(ctx.params.id);
    if (name === null || name === '') throw new InvalidParameterError('Neither old nor new names may be empty');
    ops.rename(containers, ctx.params.id, name);
    sendNoContent(ctx);
  });

  router.add('GET', '/containers/{id}/top', async (ctx) => {
    sendJson(ctx, 200, await top(containers, ctx.params.id, ctx.query.get('ps_args') || '-ef'));
  });

  router.add('POST', '/containers/prune', async (ctx) => {
    const filters = Filters.parse(ctx.query.get('filters'), ops.PRUNE_FILTERS);
    sendJson(ctx, 200, await ops.prune(containers, daemon.config.dataRoot, filters));
  });
}
