// Healthchecks, as moby's daemon/health.go runs them: while a container with a healthcheck runs,
// its test is run through exec every Interval (StartInterval during the start period), each run
// bounded by Timeout. Exit 0 is healthy and resets the failing streak; anything else (including a
// timeout, or a command that cannot run) adds to the streak, except while the container is still
// starting within its start period; Retries failures in a row make it unhealthy. The last five
// results are kept in State.Health.Log, each output cut at 4 KiB.
//
// `health_status` is emitted on this monitor's EventEmitter (id, status) whenever the status
// changes, for the events bus to report as docker's `health_status: healthy` event.
import { EventEmitter } from 'node:events';
import { errorMessage } from '../util/errors.js';
import { logger } from '../util/log.js';
import type { ExecManager } from './exec.js';
import type { ContainerManager } from './manager.js';
import type { ContainerRecord, HealthConfig, HealthState, HealthStatus } from './model.js';

const log = logger('health');

const NS_PER_MS = 1_000_000;
export const DEFAULT_INTERVAL_MS = 30_000;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_START_INTERVAL_MS = 5_000;
export const DEFAULT_RETRIES = 3;
const MAX_LOG_ENTRIES = 5;
const MAX_OUTPUT = 4096;

/** The command a healthcheck runs, or undefined when it has none (or is disabled with NONE). */
export function probeCommand(h: HealthConfig | null | undefined, shell?: string[]): string[] | undefined {
  const test = h?.Test ?? [];
  if (test.length === 0) return undefined;
  switch (test[0]) {
    case 'NONE':
      return undefined;
    case 'CMD':
      return test.length > 1 ? test.slice(1) : undefined;
    case 'CMD-SHELL':
      return [...(shell && shell.length > 0 ? shell : ['/bin/sh', '-c']), test.slice(1).join(' ')];
    default:
      // An old-style test without a type is a shell command (moby: CMD-SHELL).
      return [...(shell && shell.length > 0 ? shell : ['/bin/sh', '-c']), test.join(' ')];
  }
}

function ms(ns: number | undefined, fallback: number): number {
  return ns && ns > 0 ? Math.max(1, Math.round(ns / NS_PER_MS)) : fallback;
}

interface Watch {
  timer?: NodeJS.Timeout;
  stopped: boolean;
}

export class HealthMonitor extends EventEmitter {
  private readonly watches = new Map<string, Watch>();

  constructor(
    private readonly containers: ContainerManager,
    private readonly execs: ExecManager,
  ) {
    super();
  }

  /** Follow starts and exits, and pick up containers already running (after a daemon restart). */
  init(): void {
    this.containers.lifecycle.on('start', (id: string) => this.startWatching(id));
    this.containers.lifecycle.on('exit', (id: string) => this.stopWatching(id));
    for (const c of this.containers.list()) {
      if (c.state.Status === 'running') this.startWatching(c.id, { keepStatus: true });
    }
  }

  close(): void {
    for (const id of [...this.watches.keys()]) this.stopWatching(id);
  }

  private startWatching(id: string, o: { keepStatus?: boolean } = {}): void {
    this.stopWatching(id);
    const c = this.containers.find(id);
    if (!c || !probeCommand(c.config.Healthcheck, c.config.Shell)) return;
    const previous = c.state.Health;
    const health: HealthState = o.keepStatus && previous ? previous : { Status: 'starting', FailingStreak: 0, Log: previous?.Log ?? [] };
    this.containers.setHealth(id, health);
    const w: Watch = { stopped: false };
    this.watches.set(id, w);
    this.schedule(id, w);
  }

  private stopWatching(id: string): void {
    const w = this.watches.get(id);
    if (!w) return;
    w.stopped = true;
    if (w.timer) clearTimeout(w.timer);
    this.watches.delete(id);
  }

  private schedule(id: string, w: Watch): void {
    const c = this.containers.find(id);
    if (!c || w.stopped) return;
    const h = c.config.Healthcheck ?? {};
    const startPeriod = ms(h.StartPeriod, 0);
    const inStartPeriod = c.state.Health?.Status === 'starting' && Date.now() - Date.parse(c.state.StartedAt) < startPeriod;
    const delay = inStartPeriod && h.StartInterval ? ms(h.StartInterval, DEFAULT_START_INTERVAL_MS) : ms(h.Interval, DEFAULT_INTERVAL_MS);
    w.timer = setTimeout(() => {
      void this.probe(id, w)
        .catch((err) => log.warn({ err, id }, 'healthcheck failed to run'))
        .finally(() => this.schedule(id, w));
    }, delay);
    w.timer.unref();
  }

  /** Run the test once and record its result. */
  private async probe(id: string, w: Watch): Promise<void> {
    const c = this.containers.find(id);
    if (!c || w.stopped || c.state.Status !== 'running') return;
    const cmd = probeCommand(c.config.Healthcheck, c.config.Shell);
    if (!cmd) return;
    const timeoutMs = ms(c.config.Healthcheck?.Timeout, DEFAULT_TIMEOUT_MS);
    const start = new Date();
    let exitCode: number;
    let output: string;
    try {
      const r = await this.execs.run(id, cmd, { timeoutMs });
      if (r.timedOut) {
        exitCode = -1;
        output = `Health check exceeded timeout (${formatSeconds(timeoutMs)})`;
      } else {
        exitCode = r.exitCode;
        output = r.output;
      }
    } catch (err) {
      exitCode = -1;
      output = errorMessage(err);
    }
    if (w.stopped) return;
    const end = new Date();
    const current = this.containers.find(id);
    if (!current || current.state.Status !== 'running') return;
    const next = this.result(current, { Start: start.toISOString(), End: end.toISOString(), ExitCode: exitCode, Output: output.slice(0, MAX_OUTPUT) }, start);
    const before = current.state.Health?.Status;
    this.containers.setHealth(id, next);
    if (next.Status !== before) this.emit('health_status', id, next.Status);
  }

  private result(c: ContainerRecord, entry: HealthState['Log'][number], start: Date): HealthState {
    const prev = c.state.Health ?? { Status: 'starting' as HealthStatus, FailingStreak: 0, Log: [] };
    const logEntries = [...prev.Log, entry].slice(-MAX_LOG_ENTRIES);
    if (entry.ExitCode === 0) return { Status: 'healthy', FailingStreak: 0, Log: logEntries };
    const h = c.config.Healthcheck ?? {};
    let streak = prev.FailingStreak;
    let status = prev.Status;
    const inStartPeriod = prev.Status === 'starting' && start.getTime() - Date.parse(c.state.StartedAt) < ms(h.StartPeriod, 0);
    if (!inStartPeriod) {
      streak++;
      if (streak >= (h.Retries && h.Retries > 0 ? h.Retries : DEFAULT_RETRIES)) status = 'unhealthy';
    }
    return { Status: status, FailingStreak: streak, Log: logEntries };
  }
}

/** Go's time.Duration String for whole seconds and milliseconds ("30s", "1.5s", "500ms"). */
function formatSeconds(msValue: number): string {
  if (msValue < 1000) return `${msValue}ms`;
  return `${msValue / 1000}s`;
}
