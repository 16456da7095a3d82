// What the prune commands share: docker's confirmation prompt and its filter flag.
import { createInterface } from 'node:readline';

/** docker's "Are you sure you want to continue? [y/N]" on stdin; true only for y/yes. */
export async function confirm(warning: string): Promise<boolean> {
  process.stdout.write(`${warning}\nAre you sure you want to continue? [y/N] `);
  const rl = createInterface({ input: process.stdin });
  const answer = await new Promise<string>((resolve) => {
    rl.once('line', resolve);
    rl.once('close', () => resolve(''));
  });
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}

/** --filter key=value (repeatable) → docker's filters JSON ({"key": {"value": true}}). */
export function filtersJson(list: string[] | undefined, extra: Record<string, string[]> = {}): string | undefined {
  const out: Record<string, Record<string, boolean>> = {};
  for (const f of list ?? []) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new Error(`bad format of filter (expected name=value)`);
    const key = f.slice(0, eq);
    (out[key] ??= {})[f.slice(eq + 1)] = true;
  }
  for (const [k, vs] of Object.entries(extra)) for (const v of vs) (out[k] ??= {})[v] = true;
  return Object.keys(out).length ? JSON.stringify(out) : undefined;
}
