// GET /images/{name}/history: docker's history rows, newest first. Each non-empty history entry
// takes the next layer's unpacked size; the top row carries the image ID and its tags, the rows
// below "<missing>" (berth keeps no intermediate images, as docker shows for pulled ones).
import type { Daemon } from '../daemon/daemon.js';
import type { Router } from './router.js';
import { sendJson } from './http.js';

export function registerHistoryRoutes(router: Router, daemon: Daemon): void {
  router.add('GET', '/images/{name*}/history', async (ctx) => {
    const image = daemon.images.get(ctx.params.name);
    const { record, config } = image;
    const sizes = await Promise.all(record.chainIds.map(async (c) => (await daemon.snapshots.info(c))?.size ?? 0));
    const history = config.history ?? [];
    let layer = 0;
    const rows = history.map((h) => {
      const size = h.empty_layer ? 0 : (sizes[layer++] ?? 0);
      return {
        Id: '<missing>',
        Created: Math.floor(Date.parse(h.created ?? '1970-01-01T00:00:00Z') / 1000),
        CreatedBy: h.created_by ?? '',
        Tags: null as string[] | null,
        Size: size,
        Comment: h.comment ?? '',
      };
    });
    if (rows.length === 0) {
      rows.push({ Id: '<missing>', Created: Math.floor(Date.parse(record.created || '1970-01-01T00:00:00Z') / 1000), CreatedBy: '', Tags: null, Size: record.size, Comment: '' });
    }
    rows.reverse();
    rows[0].Id = record.id;
    rows[0].Tags = daemon.images.repoTags(record.id);
    sendJson(ctx, 200, rows);
  });
}
