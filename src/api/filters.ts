// docker's `filters` query parameter: JSON `map[string]map[string]bool` (or the older
// `map[string][]string`), validated against the keys an endpoint accepts, with docker's wording.
import { InvalidParameterError } from '../util/errors.js';

export class Filters {
  constructor(readonly values: Map<string, string[]>) {}

  static parse(raw: string | null, accepted: readonly string[]): Filters {
    const values = new Map<string, string[]>();
    if (raw === null || raw === '') return new Filters(values);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      throw new InvalidParameterError(`invalid filter: ${(err as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new InvalidParameterError(`invalid filter: expected a JSON object: ${raw}`);
    }
    for (const [key, v] of Object.entries(parsed as Record<string, unknown>)) {
      let list: string[];
      if (Array.isArray(v)) list = v.map(String);
      else if (v && typeof v === 'object') list = Object.entries(v as Record<string, unknown>).filter(([, on]) => on !== false).map(([k]) => k);
      else throw new InvalidParameterError(`invalid filter: ${raw}`);
      if (!accepted.includes(key)) throw new InvalidParameterError(`invalid filter '${key}'`);
      if (list.length > 0) values.set(key, list);
    }
    return new Filters(values);
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  get(key: string): string[] {
    return this.values.get(key) ?? [];
  }

  /** True when the key is absent, or when `test` holds for one of its values (values of a key OR). */
  any(key: string, test: (value: string) => boolean): boolean {
    const list = this.values.get(key);
    return list === undefined || list.some(test);
  }

  /** `label=k`, `label=k=v` (all must match) and `label!=...` (none may match), as docker's MatchKVList. */
  matchLabels(key: string, labels: Record<string, string> | null | undefined): boolean {
    const l = labels ?? {};
    const wanted = this.values.get(key) ?? [];
    const negated = this.values.get(`${key}!`) ?? [];
    const hit = (spec: string) => {
      const i = spec.indexOf('=');
      if (i < 0) return Object.prototype.hasOwnProperty.call(l, spec);
      const k = spec.slice(0, i);
      return Object.prototype.hasOwnProperty.call(l, k) && l[k] === spec.slice(i + 1);
    };
    return wanted.every(hit) && !negated.some(hit);
  }
}

/** Go's regexp.MatchString for a filter value; an invalid pattern matches literally. */
export function regexMatch(pattern: string, s: string): boolean {
  try {
    return new RegExp(pattern).test(s);
  } catch {
    return s.includes(pattern);
  }
}

/**
 * docker's timetypes.GetTimestamp on the daemon side: unix seconds with an optional fraction,
 * RFC 3339 (with or without zone; date only), or a Go duration (10m, 1h30m) before now.
 * Returns nanoseconds since the epoch.
 */
export function parseTimestamp(value: string, name: string, nowMs = Date.now()): bigint {
  const v = value.trim();
  const unix = /^(-?\d+)(?:\.(\d{1,9}))?$/.exec(v);
  if (unix) return BigInt(unix[1]) * 1_000_000_000n + BigInt((unix[2] ?? '').padEnd(9, '0') || '0');
  const dur = parseGoDuration(v);
  if (dur !== undefined) return BigInt(Math.round(nowMs - dur)) * 1_000_000n;
  const m = /^(\d{4}-\d\d-\d\d)(?:[T ](\d\d:\d\d(?::\d\d)?)(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?$/.exec(v);
  if (m) {
    const ms = Date.parse(`${m[1]}T${m[2] ?? '00:00:00'}${m[2] && m[2].length === 5 ? ':00' : ''}${m[4] ?? 'Z'}`);
    if (!Number.isNaN(ms)) {
      const frac = BigInt(((m[3] ?? '.').slice(1) + '000000000').slice(0, 9));
      return BigInt(ms) * 1_000_000n + frac;
    }
  }
  throw new InvalidParameterError(`failed to parse value as time or duration: "${value}" (${name})`);
}

/** Go's time.ParseDuration in milliseconds, or undefined when it is not one. */
export function parseGoDuration(v: string): number | undefined {
  if (!/^-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(v)) return undefined;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const [, n, , u] of v.replace(/^-/, '').matchAll(/(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(n) * unit[u];
  return v.startsWith('-') ? -total : total;
}
