// -e/--env and --env-file values as the docker CLI reads them (run, create, exec).
import { readFileSync } from 'node:fs';

/** opts.ValidateEnv: "NAME" alone takes the client's value when it has one. */
export function envEntry(e: string): string {
  if (e.includes('=')) return e;
  return process.env[e] !== undefined ? `${e}=${process.env[e]}` : e;
}

/** An --env-file: one entry per line; blank lines and # comments skipped. */
export function envFile(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map(envEntry);
}
