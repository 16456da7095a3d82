// Restart policies as dockerd's restartmanager applies them: no | always | unless-stopped |
// on-failure[:N]; a back-off that starts at 100 ms and doubles up to a minute, reset once a run
// lasted 10 s; no restart after a stop or kill by the user; at daemon start, `always` and
// `unless-stopped` (unless the user stopped it) containers that had run are started again.
import { InvalidParameterError } from '../util/errors.js';
import type { ContainerRecord, HostConfig } from './model.js';

export const BACKOFF_START_MS = 100;
export const BACKOFF_MAX_MS = 60_000;
export const BACKOFF_RESET_AFTER_MS = 10_000;

export type PolicyName = 'no' | 'always' | 'on-failure' | 'unless-stopped';

/** Validate HostConfig.RestartPolicy with dockerd's messages; returns it normalised. */
export function validateRestartPolicy(hc: HostConfig): { Name: PolicyName; MaximumRetryCount: number } {
  const p = hc.RestartPolicy ?? {};
  const name = (p.Name ?? '') === '' ? 'no' : p.Name!;
  const max = p.MaximumRetryCount ?? 0;
  if (!['no', 'always', 'on-failure', 'unless-stopped'].includes(name)) {
    throw new InvalidParameterError(`invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  if (!Number.isInteger(max) || max < 0) throw new InvalidParameterError('invalid restart policy: maximum retry count cannot be negative');
  if (name !== 'on-failure' && max !== 0) {
    throw new InvalidParameterError(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  }
  if (name !== 'no' && hc.AutoRemove) {
    throw new InvalidParameterError(`can't create 'AutoRemove' container with restart policy`);
  }
  return { Name: name as PolicyName, MaximumRetryCount: max };
}

interface Tracker {
  timeoutMs: number;
  timer?: NodeJS.Timeout;
  cancelled: boolean;
}

/** Per-container back-off state; the decision itself is pure (see decide). */
export class RestartTracker {
  private readonly byId = new Map<string, Tracker>();

  private get(id: string): Tracker {
    let t = this.byId.get(id);
    if (!t) this.byId.set(id, (t = { timeoutMs: 0, cancelled: false }));
    return t;
  }

  /**
   * An exit happened: should it restart, and after how long? Cancelled trackers (stop, kill,
   * rm, daemon shutdown) never restart.
   */
  onExit(c: ContainerRecord, exitCode: number, ranForMs: number): { restart: boolean; delayMs: number } {
    const policy = c.hostConfig.RestartPolicy ?? {};
    const name = policy.Name || 'no';
    if (name === 'no') return { restart: false, delayMs: 0 };
    const t = this.get(c.id);
    if (t.cancelled) return { restart: false, delayMs: 0 };
    if (ranForMs >= BACKOFF_RESET_AFTER_MS) t.timeoutMs = 0;
    t.timeoutMs = t.timeoutMs === 0 ? BACKOFF_START_MS : Math.min(t.timeoutMs * 2, BACKOFF_MAX_MS);
    let restart = false;
    if (name === 'always') restart = true;
    else if (name === 'unless-stopped') restart = !c.hasBeenManuallyStopped;
    else if (name === 'on-failure') {
      const max = policy.MaximumRetryCount ?? 0;
      if (max === 0 || c.restartCount < max) restart = exitCode !== 0;
    }
    return { restart, delayMs: t.timeoutMs };
  }

  schedule(id: string, delayMs: number, fn: () => void): void {
    const t = this.get(id);
    clearTimeout(t.timer);
    t.timer = setTimeout(() => {
      t.timer = undefined;
      if (!t.cancelled) fn();
    }, delayMs);
  }

  /** The user stopped, killed or removed it (or the daemon is going down): no more restarts. */
  cancel(id: string): boolean {
    const t = this.get(id);
    const pending = t.timer !== undefined;
    clearTimeout(t.timer);
    t.timer = undefined;
    t.cancelled = true;
    return pending;
  }

  /** A start by the user: a fresh restart manager, as docker's ResetRestartManager. */
  reset(id: string): void {
    const t = this.byId.get(id);
    if (t) clearTimeout(t.timer);
    this.byId.delete(id);
  }

  forget(id: string): void {
    this.reset(id);
  }

  cancelAll(): void {
    for (const id of this.byId.keys()) this.cancel(id);
  }
}

/** dockerd's restore: which stopped containers start again with the daemon. */
export function restartsAtBoot(c: ContainerRecord): boolean {
  const name = c.hostConfig.RestartPolicy?.Name || 'no';
  const hasRun = c.state.StartedAt !== '0001-01-01T00:00:00Z';
  if (!hasRun) return false;
  if (name === 'always') return true;
  if (name === 'unless-stopped') return !c.hasBeenManuallyStopped;
  if (name === 'on-failure') {
    const max = c.hostConfig.RestartPolicy?.MaximumRetryCount ?? 0;
    return c.state.ExitCode !== 0 && (max === 0 || c.restartCount < max);
  }
  return false;
}
