// run/create's healthcheck flags, as docker's CLI turns them into Config.Healthcheck.
import type { FlagDef } from './flags.js';

export const HEALTH_FLAGS: FlagDef[] = [
  { long: 'health-cmd', type: 'string', description: 'Command to run to check health' },
  { long: 'health-interval', type: 'string', valueName: 'duration', description: 'Time between running the check (ms|s|m|h) (default 0s)' },
  { long: 'health-retries', type: 'int', description: 'Consecutive failures needed to report unhealthy' },
  { long: 'health-start-interval', type: 'string', valueName: 'duration', description: 'Time between running the check during the start period (ms|s|m|h) (default 0s)' },
  { long: 'health-start-period', type: 'string', valueName: 'duration', description: 'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)' },
  { long: 'health-timeout', type: 'string', valueName: 'duration', description: 'Maximum time to allow one check to run (ms|s|m|h) (default 0s)' },
  { long: 'no-healthcheck', type: 'bool', description: 'Disable any container-specified HEALTHCHECK' },
];

export interface HealthOptions {
  healthCmd?: string;
  healthInterval?: string;
  healthRetries?: number;
  healthStartInterval?: string;
  healthStartPeriod?: string;
  healthTimeout?: string;
  noHealthcheck?: boolean;
}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in nanoseconds. */
export function parseGoDuration(text: string): number {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let sign = 1;
  let i = 0;
  if (s[0] === '-' || s[0] === '+') {
    sign = s[0] === '-' ? -1 : 1;
    i = 1;
  }
  let total = 0;
  if (i >= s.length) throw new Error(`time: invalid duration "${text}"`);
  while (i < s.length) {
    re.lastIndex = i;
    const m = re.exec(s);
    if (!m) throw new Error(/^[-+]?\d+(\.\d*)?$/.test(s) ? `time: missing unit in duration "${text}"` : `time: invalid duration "${text}"`);
    total += Number(m[1]) * UNITS[m[2]];
    i = re.lastIndex;
  }
  return Math.round(sign * total);
}

/** The Healthcheck for the create body, or undefined when no flag was given (the image's applies). */
export function healthcheckFromOptions(o: HealthOptions): Record<string, unknown> | undefined {
  const durations = {
    Interval: o.healthInterval,
    Timeout: o.healthTimeout,
    StartPeriod: o.healthStartPeriod,
    StartInterval: o.healthStartInterval,
  };
  const parsed: Record<string, number> = {};
  const names: Record<string, string> = { Interval: 'interval', Timeout: 'timeout', StartPeriod: 'start-period', StartInterval: 'start-interval' };
  for (const [k, v] of Object.entries(durations)) {
    if (v === undefined) continue;
    let ns: number;
    try {
      ns = parseGoDuration(v);
    } catch (err) {
      throw new Error(`invalid argument "${v}" for "--health-${names[k]}" flag: ${(err as Error).message}`);
    }
    if (ns < 0) throw new Error(`--health-${names[k]} cannot be negative`);
    parsed[k] = ns;
  }
  if (o.healthRetries !== undefined && o.healthRetries < 0) throw new Error('--health-retries cannot be negative');
  const any = o.healthCmd !== undefined || Object.keys(parsed).length > 0 || o.healthRetries !== undefined;
  if (o.noHealthcheck) {
    if (any) throw new Error('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (!any) return undefined;
  return {
    Test: o.healthCmd ? ['CMD-SHELL', o.healthCmd] : undefined,
    Interval: parsed.Interval ?? 0,
    Timeout: parsed.Timeout ?? 0,
    StartPeriod: parsed.StartPeriod ?? 0,
    StartInterval: parsed.StartInterval ?? 0,
    Retries: o.healthRetries ?? 0,
  };
}
