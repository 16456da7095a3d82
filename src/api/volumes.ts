// /volumes: create, list, inspect, remove, prune (docker's shapes, API 1.47).
import type { Daemon } from '../daemon/daemon.js';
import { ANONYMOUS_LABEL, type VolumeRecord } from '../volumes/model.js';
import type { VolumeStore } from '../volumes/store.js';
import { InvalidParameterError } from '../util/errors.js';
import { compareVersions } from '../util/version.js';
import { Filters } from './filters.js';
import { type ApiContext, readJson, sendJson, sendNoContent } from './http.js';
import type { Router } from './router.js';

/** docker's volume.Volume; UsageData only where docker fills it (system df). */
export function volumeJson(store: VolumeStore, v: VolumeRecord, usage?: { Size: number; RefCount: number }): Record<string, unknown> {
  return {
    CreatedAt: v.createdAt,
    Driver: v.driver,
    Labels: v.labels,
    Mountpoint: store.mountpoint(v.name),
    Name: v.name,
    Options: v.options,
    Scope: 'local',
    ...(usage ? { UsageData: usage } : {}),
  };
}

function truthy(v: string): boolean {
  return v === 'true' || v === '1';
}

export function registerVolumeRoutes(router: Router, daemon: Daemon): void {
  const store = daemon.volumes;

  router.add('POST', '/volumes/create', async (ctx) => {
    const body = await readJson<{ Name?: string; Driver?: string; DriverOpts?: Record<string, string> | null; Labels?: Record<string, string> | null }>(ctx);
    if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) throw new InvalidParameterError('invalid volume config');
    const v = await store.create({ name: body?.Name, driver: body?.Driver, labels: body?.Labels ?? null, options: body?.DriverOpts ?? null });
    sendJson(ctx, 201, volumeJson(store, v));
  });

  router.add('GET', '/volumes', (ctx) => {
    const f = Filters.parse(ctx.query.get('filters'), ['name', 'label', 'label!', 'dangling', 'driver']);
    const users = store.list().map((v) => ({ v, used: store.usersOf(v.name).length > 0 }));
    const keep = users.filter(({ v, used }) => {
      if (!f.any('name', (n) => v.name.includes(n))) return false;
      if (!f.any('driver', (d) => d === v.driver)) return false;
      if (!f.matchLabels('label', v.labels)) return false;
      if (f.has('dangling')) {
        const d = f.get('dangling')[0];
        if (!['true', 'false', '1', '0'].includes(d)) throw new InvalidParameterError(`invalid filter 'dangling=${d}'`);
        if (truthy(d) === used) return false;
      }
      return true;
    });
    sendJson(ctx, 200, { Volumes: keep.map(({ v }) => volumeJson(store, v)), Warnings: null });
  });

  router.add('GET', '/volumes/{name}', (ctx) => {
    sendJson(ctx, 200, volumeJson(store, store.get(ctx.params.name)));
  });

  router.add('DELETE', '/volumes/{name}', async (ctx) => {
    const force = truthy(ctx.query.get('force') ?? '');
    await store.remove(ctx.params.name, { force });
    sendNoContent(ctx);
  });

  router.add('POST', '/volumes/prune', async (ctx) => {
    sendJson(ctx, 200, await pruneVolumes(daemon, ctx));
  });
}

/**
 * docker's volume prune: unused volumes; since API 1.42 only anonymous ones unless the filter
 * all=true asks for named ones too. `docker system prune --volumes` calls the same route.
 */
export async function pruneVolumes(daemon: Daemon, ctx: ApiContext): Promise<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }> {
  const f = Filters.parse(ctx.query.get('filters'), ['label', 'label!', 'all']);
  const all = f.has('all') && truthy(f.get('all')[0]);
  if (f.has('all') && !['true', 'false', '1', '0'].includes(f.get('all')[0])) throw new InvalidParameterError(`invalid filter 'all=${f.get('all')[0]}'`);
  const anonymousOnly = !all && compareVersions(ctx.version, '1.42') >= 0;
  const { deleted, reclaimed } = await daemon.volumes.prune((v) => {
    if (anonymousOnly && !(v.labels && ANONYMOUS_LABEL in v.labels)) return false;
    if (!f.matchLabels('label', v.labels)) return false;
    return true;
  });
  return { VolumesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
}
