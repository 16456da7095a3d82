// /networks: list, inspect, create, remove, connect, disconnect, prune (docker's shapes).
import type { Daemon } from '../daemon/daemon.js';
import type { EndpointRequest, NetworkCreateRequest, NetworkManager } from '../network/manager.js';
import type { NetworkRecord } from '../network/model.js';
import { InvalidParameterError } from '../util/errors.js';
import type { Router } from './router.js';
import { type ApiContext, readJson, sendJson, sendNoContent } from './http.js';

/** docker's `filters` query: {"name":{"x":true}} or {"name":["x"]} → key → values. */
export function parseFilters(ctx: ApiContext, allowed: string[]): Map<string, string[]> {
  const raw = ctx.query.get('filters');
  const out = new Map<string, string[]>();
  if (!raw) return out;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    throw new InvalidParameterError(`invalid filter: ${raw}`);
  }
  for (const [key, v] of Object.entries(parsed ?? {})) {
    if (!allowed.includes(key)) throw new InvalidParameterError(`invalid filter '${key}'`);
    const values = Array.isArray(v) ? (v as string[]) : v && typeof v === 'object' ? Object.keys(v) : [];
    out.set(key, values);
  }
  return out;
}

function labelMatch(labels: Record<string, string>, wanted: string[]): boolean {
  return wanted.every((w) => {
    const i = w.indexOf('=');
    return i < 0 ? w in labels : labels[w.slice(0, i)] === w.slice(i + 1);
  });
}

function networkFilter(filters: Map<string, string[]>, inUse: (n: NetworkRecord) => boolean): (n: NetworkRecord) => boolean {
  return (n) => {
    const name = filters.get('name');
    if (name && !name.some((v) => n.name.includes(v))) return false;
    const id = filters.get('id');
    if (id && !id.some((v) => n.id.startsWith(v))) return false;
    const driver = filters.get('driver');
    if (driver && !driver.includes(n.driver)) return false;
    const type = filters.get('type');
    if (type && !type.some((t) => (t === 'builtin' ? n.predefined : t === 'custom' ? !n.predefined : false))) return false;
    const label = filters.get('label');
    if (label && !labelMatch(n.labels, label)) return false;
    const dangling = filters.get('dangling');
    if (dangling && dangling.length > 0) {
      const want = dangling[0] === 'true' || dangling[0] === '1';
      if (want !== (!n.predefined && !inUse(n))) return false;
    }
    return true;
  };
}

export function networkJson(n: NetworkRecord, containers: Record<string, unknown>): Record<string, unknown> {
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: 'local',
    Driver: n.driver,
    EnableIPv4: true,
    EnableIPv6: false,
    IPAM: {
      Driver: 'default',
      Options: n.ipamOptions ?? null,
      Config: n.subnet ? [{ Subnet: n.subnet, Gateway: n.gateway }] : [],
    },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: n.options,
    Labels: n.labels,
  };
}

export function registerNetworkRoutes(router: Router, daemon: Daemon): void {
  const networks: NetworkManager = daemon.networks;
  const inUse = (n: NetworkRecord) => daemon.containers.list().some((c) => Object.values(c.networks ?? {}).some((e) => e.NetworkID === n.id));

  router.add('GET', '/networks', (ctx) => {
    const keep = networkFilter(parseFilters(ctx, ['name', 'id', 'driver', 'type', 'label', 'dangling', 'scope']), inUse);
    const list = networks.list().filter(keep).sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0));
    sendJson(ctx, 200, list.map((n) => networkJson(n, {})));
  });

  router.add('GET', '/networks/{id}', (ctx) => {
    const n = networks.get(ctx.params.id);
    sendJson(ctx, 200, networkJson(n, networks.endpointsOf(n)));
  });

  router.add('POST', '/networks/create', async (ctx) => {
    const body = await readJson<NetworkCreateRequest>(ctx);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidParameterError('invalid network config');
    const { id, warning } = await networks.create(body);
    sendJson(ctx, 201, { Id: id, Warning: warning });
  });

  router.add('DELETE', '/networks/{id}', async (ctx) => {
    await networks.remove(ctx.params.id);
    sendNoContent(ctx);
  });

  router.add('POST', '/networks/{id}/connect', async (ctx) => {
    const body = await readJson<{ Container?: string; EndpointConfig?: EndpointRequest | null }>(ctx);
    if (!body?.Container) throw new InvalidParameterError('no container specified');
    const net = networks.get(ctx.params.id);
    await daemon.containers.connectNetwork(body.Container, net, body.EndpointConfig ?? {});
    sendJson(ctx, 200, undefined);
  });

  router.add('POST', '/networks/{id}/disconnect', async (ctx) => {
    const body = await readJson<{ Container?: string; Force?: boolean }>(ctx);
    if (!body?.Container) throw new InvalidParameterError('no container specified');
    const net = networks.get(ctx.params.id);
    await daemon.containers.disconnectNetwork(body.Container, net);
    sendJson(ctx, 200, undefined);
  });

  router.add('POST', '/networks/prune', async (ctx) => {
    const filters = parseFilters(ctx, ['label', 'label!', 'until']);
    const until = filters.get('until')?.[0];
    const keep = (n: NetworkRecord) => {
      const labels = filters.get('label');
      if (labels && !labelMatch(n.labels, labels)) return false;
      const notLabels = filters.get('label!');
      if (notLabels && notLabels.some((l) => labelMatch(n.labels, [l]))) return false;
      if (until) {
        const t = /^\d+$/.test(until) ? Number(until) * 1000 : Date.parse(until);
        if (!Number.isNaN(t) && Date.parse(n.created) >= t) return false;
      }
      return true;
    };
    const deleted = await networks.prune(keep);
    sendJson(ctx, 200, { NetworksDeleted: deleted });
  });
}
