// GET /events: kept events since `since`, then live ones until `until` (or until the client
// leaves), one JSON object per line, filtered as dockerd's events filter does.
import type { Daemon } from '../daemon/daemon.js';
import type { EventMessage } from '../events/bus.js';
import { Filters, parseTimestamp } from './filters.js';
import { commonHeaders } from './http.js';
import type { Router } from './router.js';

export const EVENT_FILTERS = ['config', 'container', 'daemon', 'event', 'image', 'label', 'network', 'node', 'plugin', 'scope', 'secret', 'service', 'type', 'volume'] as const;

/** dockerd's events.Filter.Include. */
export function eventMatches(f: Filters, m: EventMessage): boolean {
  const attrs = m.Actor.Attributes;
  const action = m.Action.split(':')[0];
  if (!f.any('event', (v) => v === m.Action || v === action)) return false;
  if (!f.any('type', (v) => v === m.Type)) return false;
  if (!f.any('scope', (v) => v === m.scope)) return false;
  if (!f.any('daemon', (v) => m.Type === 'daemon' && (v === m.Actor.ID || v === attrs.name))) return false;
  if (!f.matchLabels('label', attrs)) return false;
  const nameOrId = (v: string) => v === m.Actor.ID || (v.length >= 1 && m.Actor.ID.startsWith(v)) || v === attrs.name || `/${attrs.name}` === v;
  if (f.has('container') && !(m.Type === 'container' && f.get('container').some(nameOrId))) return false;
  if (f.has('network') && !(m.Type === 'network' && f.get('network').some(nameOrId))) return false;
  if (f.has('volume') && !(m.Type === 'volume' && f.get('volume').some(nameOrId))) return false;
  if (f.has('image')) {
    const candidates = m.Type === 'image' ? [m.Actor.ID, attrs.name] : [attrs.image];
    const strip = (s: string | undefined) => (s ?? '').replace(/:latest$/, '');
    if (!f.get('image').some((v) => candidates.some((c) => c !== undefined && (c === v || strip(c) === strip(v))))) return false;
  }
  for (const key of ['config', 'node', 'plugin', 'secret', 'service'] as const) {
    if (f.has(key) && !f.get(key).includes(m.Actor.ID)) return false;
  }
  return true;
}

export function registerEventRoutes(router: Router, daemon: Daemon): void {
  router.add('GET', '/events', async (ctx) => {
    const filters = Filters.parse(ctx.query.get('filters'), EVENT_FILTERS);
    const sinceRaw = ctx.query.get('since');
    const untilRaw = ctx.query.get('until');
    const since = sinceRaw ? parseTimestamp(sinceRaw, 'since') : undefined;
    const until = untilRaw ? parseTimestamp(untilRaw, 'until') : undefined;
    const res = ctx.res!;
    res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/json' });
    res.flushHeaders();
    const write = (m: EventMessage) => {
      if (eventMatches(filters, m)) res.write(JSON.stringify(m) + '\n');
    };
    // Subscribe before replaying so nothing falls between the two.
    const live: EventMessage[] = [];
    let replaying = true;
    const unsubscribe = daemon.events.subscribe((m) => {
      if (until !== undefined && BigInt(m.timeNano) > until) return;
      if (replaying) live.push(m);
      else write(m);
    });
    const replayed = since !== undefined ? daemon.events.replay(since, until) : [];
    for (const m of replayed) write(m);
    const last = replayed.length > 0 ? replayed[replayed.length - 1].timeNano : -1;
    for (const m of live) if (m.timeNano > last) write(m);
    replaying = false;
    await new Promise<void>((resolve) => {
      res.on('close', resolve);
      if (until !== undefined) {
        const ms = Number(until / 1_000_000n) - Date.now();
        const t = setTimeout(resolve, Math.max(0, ms));
        t.unref();
        res.on('close', () => clearTimeout(t));
      }
    });
    unsubscribe();
    res.end();
  });
}
