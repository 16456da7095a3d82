// Making a batch of freshly written files durable. One syncfs(2) flushes the whole filesystem,
// which on a shared machine means everyone's dirty pages (measured here under load: median 31 ms,
// tail 200 ms); fsyncs of just the batch's files and directories, issued in parallel, end up in
// one or two journal commits (median 9 ms for nine files). Past a few hundred files the fsyncs cost
// more than the flush, and syncfs is the better deal.
import * as fsp from 'node:fs/promises';
import { sysAddon } from '../runtime/sys.js';

/** More paths than this: one syncfs instead of an fsync each. */
export const FSYNC_EACH_LIMIT = 256;

/** fsyncs every path (files and directories), a few at a time on libuv's pool. */
export async function fsyncEach(paths: string[]): Promise<void> {
  const queue = [...new Set(paths)];
  const worker = async () => {
    for (let p = queue.pop(); p !== undefined; p = queue.pop()) {
      const fh = await fsp.open(p, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, queue.length) }, worker));
}

/** fsyncs `paths` if they are few, otherwise calls `flushAll` (a syncfs of their filesystem). */
export async function makeDurable(paths: string[], flushAll: () => Promise<void>): Promise<void> {
  if (paths.length === 0) return;
  if (paths.length > FSYNC_EACH_LIMIT) await flushAll();
  else await fsyncEach(paths);
}

const addon = sysAddon();

/**
 * Start writing a file's dirty pages to disk now, without waiting (sync_file_range WRITE). A pull
 * or load writes hundreds of MB in seconds, under the kernel's background-writeback threshold, so
 * otherwise every byte is flushed by the final syncfs/fsync on the critical path; started early, the
 * disk works while the stream goes on. Durability still comes from the syncfs/fsync.
 */
export function startWriteback(fd: number): void {
  addon?.startWriteback(fd);
}

/** Bytes between two writeback starts on a file written as a stream (a blob, an archive member). */
const WRITEBACK_STEP = 8 << 20;

/** Starts a streamed file's writeback every WRITEBACK_STEP bytes, so its final fsync finds little left. */
export class WritebackPacer {
  private startedAt = 0;
  constructor(private readonly fd: number) {}

  /** `written`: the file's size so far. */
  wrote(written: number): void {
    if (written - this.startedAt < WRITEBACK_STEP) return;
    this.startedAt = written;
    startWriteback(this.fd);
  }
}
