// GET /system/df and the prune routes `docker system prune` calls: containers (stopped ones),
// images (in images-io.ts), and build cache (berth has none: an honest empty answer). Sizes are
// what berth stores: a layer snapshot shared by several images is counted once in LayersSize and
// as SharedSize in each image that has it.
import { treeSize } from '../util/tree-size.js';
import type { Daemon } from '../daemon/daemon.js';
import { containerDirs } from '../containers/archive.js';
import { containerSummary } from '../containers/inspect.js';
import type { ContainerRecord } from '../containers/model.js';
import { InvalidParameterError } from '../util/errors.js';
import { logger } from '../util/log.js';
import { parseFilters, untilTime } from './images-io.js';
import type { Router } from './router.js';
import { volumeJson } from './volumes.js';
import { sendJson } from './http.js';

const log = logger('api');

function running(c: ContainerRecord): boolean {
  return c.state.Status === 'running' || c.state.Status === 'paused' || c.state.Status === 'restarting';
}

export function registerSystemDfRoutes(router: Router, daemon: Daemon): void {
  router.add('GET', '/system/df', async (ctx) => {
    const types = new Set(ctx.query.getAll('type'));
    const want = (t: string) => types.size === 0 || types.has(t);
    const images = daemon.images.list();
    const containers = daemon.containers.list();
    const out: Record<string, unknown> = {};

    if (want('image')) {
      const users = new Map<string, number>();
      for (const c of containers) users.set(c.imageId, (users.get(c.imageId) ?? 0) + 1);
      const chainUse = new Map<string, number>();
      for (const img of images) for (const chain of new Set(img.record.chainIds)) chainUse.set(chain, (chainUse.get(chain) ?? 0) + 1);
      const chainSize = new Map<string, number>();
      for (const chain of chainUse.keys()) chainSize.set(chain, await daemon.images.chainSizes([chain]));
      let layersSize = 0;
      for (const size of chainSize.values()) layersSize += size;
      out.LayersSize = layersSize;
      out.Images = images
        .map((img) => {
          const summary = daemon.images.summary(img, ctx.version);
          const shared = [...new Set(img.record.chainIds)].filter((c) => (chainUse.get(c) ?? 0) > 1).reduce((s, c) => s + (chainSize.get(c) ?? 0), 0);
          return { ...summary, SharedSize: shared, Containers: users.get(img.record.id) ?? 0 } as Record<string, unknown>;
        })
        .sort((a, b) => (b.Created as number) - (a.Created as number));
    }
    if (want('container')) {
      const rows = [];
      for (const c of containers) {
        const sizeRw = await treeSize(containerDirs(daemon.config.dataRoot, c.id).upper);
        const image = daemon.images.resolve(c.imageId);
        rows.push({ ...containerSummary(c), SizeRw: sizeRw, SizeRootFs: sizeRw + (image?.record.size ?? 0) } as Record<string, unknown>);
      }
      out.Containers = rows.sort((a, b) => (b.Created as number) - (a.Created as number));
    }
    if (want('volume')) {
      const rows = [];
      for (const v of daemon.volumes.list()) {
        rows.push(volumeJson(daemon.volumes, v, { Size: await daemon.volumes.size(v.name), RefCount: daemon.volumes.usersOf(v.name).length }));
      }
      out.Volumes = rows;
    }
    // berth has no build cache: an empty list, not made-up numbers.
    if (want('build-cache')) out.BuildCache = [];
    sendJson(ctx, 200, out);
  });

  // POST /containers/prune lives in lifecycle.ts (with its events).

  // berth keeps no build cache; `docker system prune` asks anyway.
  router.add('POST', '/build/prune', (ctx) => {
    sendJson(ctx, 200, { CachesDeleted: null, SpaceReclaimed: 0 });
  });
}

/**
 * `docker system prune` also calls POST /networks/prune. Registered last, so a real networks
 * route (registered earlier) wins; until then berth has no networks of its own to prune.
 */
export function registerPruneFallbacks(router: Router): void {
  router.add('POST', '/networks/prune', (ctx) => sendJson(ctx, 200, { NetworksDeleted: null }));
}
