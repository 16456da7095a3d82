// --filter key=value flags as the Engine API's `filters` JSON map.
import { StatusError } from './cli.js';

/** docker's --filter key=value list as the API's JSON map. */
export function filtersJson(list: string[] | undefined): string | undefined {
  if (!list || list.length === 0) return undefined;
  const out: Record<string, Record<string, boolean>> = {};
  for (const f of list) {
    const i = f.indexOf('=');
    if (i < 0) throw new StatusError(`Error: bad format of filter (expected name=value)`, 125);
    const key = f.slice(0, i).trim().toLowerCase();
    (out[key] ??= {})[f.slice(i + 1)] = true;
  }
  return JSON.stringify(out);
}
