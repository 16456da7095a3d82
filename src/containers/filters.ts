// GET /containers/json filters, as dockerd's list.go applies them: values of one key OR,
// different keys AND. id/name are regular expressions (as docker's Match), label is key or
// key=value, status is one of docker's states, exited an exit code of an exited container,
// ancestor an image (name or ID), before/since a container.
import type { Filters } from '../api/filters.js';
import { regexMatch } from '../api/filters.js';
import type { ImageStore } from '../images/store.js';
import { InvalidParameterError, NotFoundError } from '../util/errors.js';
import type { ContainerRecord } from './model.js';

export const PS_FILTERS = [
  'id', 'name', 'label', 'label!', 'status', 'exited', 'ancestor', 'before', 'since',
  'volume', 'network', 'publish', 'expose', 'health', 'isolation', 'is-task',
] as const;

const STATES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

export function filterContainers(
  all: ContainerRecord[],
  filters: Filters,
  deps: { images: ImageStore; find: (idOrName: string) => ContainerRecord | undefined },
): ContainerRecord[] {
  for (const v of filters.get('status')) {
    if (!STATES.includes(v)) throw new InvalidParameterError(`invalid filter 'status=${v}'`);
  }
  const exited = filters.get('exited').map((v) => {
    if (!/^-?\d+$/.test(v)) throw new InvalidParameterError(`invalid filter 'exited=${v}'`);
    return Number(v);
  });
  const pivot = (key: 'before' | 'since'): ContainerRecord | undefined => {
    const v = filters.get(key)[0];
    if (v === undefined) return undefined;
    const c = deps.find(v);
    if (!c) throw new NotFoundError(`No such container: ${v}`);
    return c;
  };
  const before = pivot('before');
  const since = pivot('since');
  const ancestors = filters.get('ancestor').map((a) => deps.images.resolveId(a) ?? `\u0000${a}`);
  return all.filter((c) => {
    if (!filters.any('id', (v) => regexMatch(v, c.id))) return false;
    if (!filters.any('name', (v) => regexMatch(v, `/${c.name}`) || regexMatch(v, c.name))) return false;
    if (!filters.matchLabels('label', c.config.Labels)) return false;
    if (!filters.any('status', (v) => v === c.state.Status)) return false;
    if (exited.length > 0 && (c.state.Status !== 'exited' || !exited.includes(c.state.ExitCode))) return false;
    if (filters.has('ancestor') && !ancestors.includes(c.imageId)) return false;
    if (before && !(c.created < before.created)) return false;
    if (since && !(c.created > since.created)) return false;
    // Parts berth has no notion of yet (volumes, networks, ports, health) match nothing when asked.
    for (const key of ['volume', 'network', 'publish', 'expose', 'health'] as const) {
      if (filters.has(key) && !matchUnsupported(key, c, filters.get(key))) return false;
    }
    if (filters.has('is-task') && !filters.get('is-task').includes('false')) return false;
    return true;
  });
}

function matchUnsupported(key: string, c: ContainerRecord, values: string[]): boolean {
  if (key === 'network') return values.includes(c.hostConfig.NetworkMode ?? 'default');
  if (key === 'expose') return values.some((v) => Object.keys(c.config.ExposedPorts ?? {}).includes(v.includes('/') ? v : `${v}/tcp`));
  if (key === 'health') return values.includes('none') && !c.config.Healthcheck;
  // docker's volume filter: a volume name or a mount destination.
  if (key === 'volume') return values.some((v) => (c.mounts ?? []).some((m) => m.Name === v || m.Destination === v));
  return false;
}
