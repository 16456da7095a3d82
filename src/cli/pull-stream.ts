// Pulling through POST /images/create and showing docker's progress display; shared by `pull`
// and `run` (which pulls a missing image, with its progress on stderr).
import type { ApiClient } from './api-client.js';
import { jsonLines } from './api-client.js';
import { type ParsedRef } from './format.js';
import { JsonMessageDisplay, type JsonMessage } from './progress.js';

export interface PullOptions {
  platform?: string;
  /** Where progress goes; undefined discards it (-q). */
  stream?: NodeJS.WriteStream;
}

/** The terminal width jsonmessage uses for progress bars (200 when it cannot tell, as docker). */
function widthOf(stream: NodeJS.WriteStream): number {
  return stream.isTTY && stream.columns ? stream.columns : 200;
}

export async function pullImage(client: ApiClient, ref: ParsedRef, opts: PullOptions): Promise<void> {
  const { authHeaderFor } = await import('../registry/auth-config.js');
  const res = await client.request('POST', '/images/create', {
    query: { fromImage: ref.name, tag: ref.digest ?? ref.tag ?? 'latest', platform: opts.platform || undefined },
    headers: authHeaderFor(ref.name.slice(0, ref.name.indexOf('/'))),
  });
  const stream = opts.stream;
  const display = stream
    ? new JsonMessageDisplay((s) => stream.write(s), Boolean(stream.isTTY), widthOf(stream))
    : new JsonMessageDisplay(() => {}, false);
  for await (const msg of jsonLines<JsonMessage>(res)) display.handle(msg);
}
