// What save/load/import/export/commit share: writing a response body to a file the way docker
// does (temp file + rename), refusing to dump a tar on a terminal, and reading docker's JSON
// message streams.
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { jsonLines } from '../api-client.js';
import { StatusError } from '../cli.js';

/** Body to `-o file` (atomically) or to stdout, which must not be a terminal. */
export async function writeOutput(res: IncomingMessage, output: string | undefined): Promise<void> {
  if (!output) {
    await pipeline(res, process.stdout);
    return;
  }
  const tmp = join(dirname(output), `.${basename(output)}.${process.pid}.tmp`);
  try {
    await pipeline(res, createWriteStream(tmp, { mode: 0o600 }));
    await rename(tmp, output);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export function refuseTerminal(output: string | undefined): void {
  if (!output && process.stdout.isTTY) {
    throw new StatusError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 1);
  }
}

interface JsonMessage {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/** Prints `stream` text and `status` lines; an error message in the stream fails the command. */
export async function printMessages(res: IncomingMessage, opts: { status?: boolean } = {}): Promise<void> {
  if (!String(res.headers['content-type'] ?? '').includes('json')) {
    await pipeline(res, process.stdout, { end: false });
    return;
  }
  for await (const m of jsonLines<JsonMessage>(res)) {
    if (m.error || m.errorDetail?.message) throw new StatusError(m.errorDetail?.message ?? m.error ?? 'unknown error', 1);
    if (m.stream) process.stdout.write(m.stream);
    else if (m.status && opts.status !== false && /^sha256:[a-f0-9]{64}$/.test(m.status)) process.stdout.write(`${m.status}\n`);
  }
}

/** "REPO[:TAG]" → query parameters repo and tag, as the docker CLI sends them. */
export function repoTag(ref: string | undefined): { repo?: string; tag?: string } {
  if (!ref) return {};
  const at = ref.indexOf('@');
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (at < 0 && colon > slash) return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repo: ref };
}

/** A query string with repeated keys (changes=...&changes=...). */
export function queryWithLists(params: Record<string, string | string[] | undefined | false>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === false) continue;
    for (const item of Array.isArray(v) ? v : [v]) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(item)}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}
