// Lifecycle operations beyond create/start/stop/kill/rm: pause, unpause, restart, rename, prune.
// Each takes the manager's per-container lock and records the change in one transaction.
import { readdir, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Filters } from '../api/filters.js';
import { parseTimestamp } from '../api/filters.js';
import { ConflictError, InvalidParameterError } from '../util/errors.js';
import { emitContainerEvent } from './events.js';
import type { ContainerManager } from './manager.js';
import { VALID_NAME, type ContainerRecord } from './model.js';

export async function pause(m: ContainerManager, idOrName: string): Promise<void> {
  const c = m.get(idOrName);
  await m.locked(c.id, async () => {
    const cur = m.get(c.id);
    if (cur.state.Status === 'paused') throw new ConflictError(`Container ${cur.id} is already paused`);
    if (cur.state.Status === 'restarting') throw new ConflictError(`Container ${cur.id} is restarting, wait until the container is running`);
    if (cur.state.Status !== 'running') throw new ConflictError(`Container ${cur.id} is not running`);
    await m.runtime.pause(cur.id);
    m.update(cur.id, (r) => (r.state.Status = 'paused'));
    emitContainerEvent(m.bus, cur, 'pause');
  });
}

export async function unpause(m: ContainerManager, idOrName: string): Promise<void> {
  const c = m.get(idOrName);
  await m.locked(c.id, async () => {
    const cur = m.get(c.id);
    if (cur.state.Status !== 'paused') throw new ConflictError(`Container ${cur.id} is not paused`);
    await m.runtime.resume(cur.id);
    m.update(cur.id, (r) => (r.state.Status = 'running'));
    emitContainerEvent(m.bus, cur, 'unpause');
  });
}

/** docker restart: stop (signal, timeout, SIGKILL) if running, then start; a "restart" event. */
export async function restart(m: ContainerManager, idOrName: string, timeoutSeconds?: number, signal?: string): Promise<void> {
  const c = m.get(idOrName);
  await m.stop(c.id, timeoutSeconds, signal);
  await m.start(c.id);
  emitContainerEvent(m.bus, m.get(c.id), 'restart');
}

export function rename(m: ContainerManager, idOrName: string, newNameRaw: string): void {
  const c = m.get(idOrName);
  const oldName = c.name;
  const newName = newNameRaw.replace(/^\//, '');
  if (newName === '' || oldName === '') throw new InvalidParameterError('Neither old nor new names may be empty');
  if (!VALID_NAME.test(newName)) {
    throw new InvalidParameterError(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  if (newName === oldName) throw new InvalidParameterError('Renaming a container with the same name as its current name');
  let renamed: ContainerRecord | undefined;
  m.meta.transaction(() => {
    const holder = m.list().find((x) => x.name === newName);
    if (holder) {
      throw new ConflictError(
        `Conflict. The container name "/${newName}" is already in use by container "${holder.id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    renamed = m.update(c.id, (r) => (r.name = newName));
  });
  emitContainerEvent(m.bus, renamed!, 'rename', { oldName: `/${oldName}` });
}

export const PRUNE_FILTERS = ['until', 'label', 'label!'] as const;

/** POST /containers/prune: every stopped container matching the filters. */
export async function prune(m: ContainerManager, dataRoot: string, filters: Filters): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
  const until = filters.get('until').map((v) => parseTimestamp(v, 'until'));
  const deleted: string[] = [];
  let reclaimed = 0;
  for (const c of m.list()) {
    if (c.state.Status !== 'exited' && c.state.Status !== 'created' && c.state.Status !== 'dead') continue;
    if (until.length > 0 && !until.every((u) => BigInt(Date.parse(c.created)) * 1_000_000n < u)) continue;
    if (!filters.matchLabels('label', c.config.Labels)) continue;
    const size = await diskUsage(join(dataRoot, 'containers', c.id, 'upper'));
    try {
      await m.remove(c.id, { force: false });
    } catch {
      continue; // started or removed meanwhile
    }
    deleted.push(c.id);
    reclaimed += size;
  }
  m.bus.emit('container', 'prune', { ID: '', Attributes: { reclaimed: String(reclaimed) } });
  return { ContainersDeleted: deleted, SpaceReclaimed: reclaimed };
}

/** Bytes used by the files under a directory (what the writable layer holds). */
export async function diskUsage(dir: string): Promise<number> {
  let total = 0;
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return 0;
  }
  for (const name of entries) {
    const p = join(dir, name);
    const st = await lstat(p).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory()) total += await diskUsage(p);
    else total += st.size;
  }
  return total;
}
