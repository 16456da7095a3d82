// Container logs as conmon writes them (k8s-file: `<RFC3339Nano> <stdout|stderr> <P|F> <text>`),
// read back as entries for `logs` across the rotated files (log-files.ts), and followed for
// `logs -f` and non-TTY attach through rotations.
import { read, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { promisify } from 'node:util';
import { closeLogFiles, onBeforeRotate, openLogFiles, openNewerLogFiles, skipOlderThan, type OpenLogFile } from './log-files.js';

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds, UTC ("Z"), as docker prints with --timestamps. */
  timestamp: string;
  /** Milliseconds since the epoch, for since/until. */
  time: number;
  /** Nanoseconds since the epoch, exact, for since/until given with nanoseconds. */
  nano: bigint;
  /** The line's bytes, with its trailing newline when the line was complete. */
  line: Buffer;
}

export interface ReadLogOptions {
  since?: number;
  until?: number;
  /** Like since/until, in nanoseconds (docker's CLI sends seconds with nine decimals). */
  sinceNano?: bigint;
  untilNano?: bigint;
  tail?: number;
  follow?: boolean;
  /** In follow mode: once this resolves, what is in the file is read and the stream ends. */
  untilExited?: Promise<void>;
  signal?: AbortSignal;
  /** Yield partial (P) pieces as they arrive instead of whole lines: attach, where a prompt has no newline. */
  partial?: boolean;
}

/** docker's 8-byte stream header: [stream, 0, 0, 0, size (uint32 BE)] + payload. */
export function frame(stream: 1 | 2, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

function normaliseTimestamp(ts: string): { timestamp: string; time: number; nano: bigint } {
  // conmon writes "+00:00"; docker prints "Z" and always nine digits (RFC3339NanoFixed).
  // Date.parse only reads milliseconds.
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) {
    const t = Date.parse(ts);
    return { timestamp: ts, time: t, nano: BigInt(Number.isNaN(t) ? 0 : t) * 1_000_000n };
  }
  const digits = ((m[2] ?? '.').slice(1) + '000000000').slice(0, 9);
  const secondsMs = Date.parse(`${m[1]}${m[3]}`);
  const time = secondsMs + Math.floor(Number(digits) / 1e6);
  const timestamp = m[3] === '+00:00' || m[3] === 'Z' ? `${m[1]}.${digits}Z` : ts;
  return { timestamp, time, nano: BigInt(secondsMs) * 1_000_000n + BigInt(digits) };
}

/** Parses complete lines; joins partial (P) lines with their final (F) part per stream. */
class LineParser {
  private rest = Buffer.alloc(0);
  constructor(private readonly partialPieces = false) {}
  private readonly partial: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };

  push(chunk: Buffer): LogEntry[] {
    const data = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    const out: LogEntry[] = [];
    let start = 0;
    for (;;) {
      const nl = data.indexOf(10, start);
      if (nl < 0) break;
      const entry = this.parseLine(data.subarray(start, nl));
      if (entry) out.push(entry);
      start = nl + 1;
    }
    this.rest = Buffer.from(data.subarray(start));
    return out;
  }

  private parseLine(line: Buffer): LogEntry | undefined {
    const s1 = line.indexOf(32);
    const s2 = line.indexOf(32, s1 + 1);
    const s3 = line.indexOf(32, s2 + 1);
    if (s1 < 0 || s2 < 0) return undefined;
    const stream = line.toString('latin1', s1 + 1, s2);
    if (stream !== 'stdout' && stream !== 'stderr') return undefined;
    const tag = line.toString('latin1', s2 + 1, s3 < 0 ? line.length : s3);
    const text = s3 < 0 ? Buffer.alloc(0) : line.subarray(s3 + 1);
    const { timestamp, time, nano } = normaliseTimestamp(line.toString('latin1', 0, s1));
    if (tag === 'P') {
      if (this.partialPieces) return { stream, timestamp, time, nano, line: Buffer.from(text) };
      this.partial[stream].push(Buffer.from(text));
      return undefined;
    }
    const parts = this.partial[stream];
    this.partial[stream] = [];
    return { stream, timestamp, time, nano, line: Buffer.concat([...parts, text, Buffer.from('\n')]) };
  }
}

const readFd = promisify(read);

export async function* readLogEntries(path: string, opts: ReadLogOptions = {}): AsyncGenerator<LogEntry> {
  const keep = (e: LogEntry) =>
    (opts.since === undefined || e.time >= opts.since) &&
    (opts.until === undefined || e.time <= opts.until) &&
    (opts.sinceNano === undefined || e.nano >= opts.sinceNano) &&
    (opts.untilNano === undefined || e.nano <= opts.untilNano);
  const parser = new LineParser(opts.partial);
  // The files still to read, oldest first; files[0] is read from `offset`. Opened eagerly (and
  // synchronously, see log-files.ts) so that a rotation that drops or renames them loses nothing.
  const files: OpenLogFile[] = openLogFiles(path);
  const sinceNano = [opts.sinceNano, opts.since === undefined ? undefined : BigInt(opts.since) * 1_000_000n].filter((n) => n !== undefined);
  if (sinceNano.length > 0) skipOlderThan(files, sinceNano.reduce((a, b) => (a > b ? a : b)));
  let offset = 0;
  const openNewer = () => {
    const newer = openNewerLogFiles(path, files.at(-1)?.ino, new Set(files.map((f) => f.ino)));
    files.push(...newer);
    return newer.length > 0;
  };
  const chunk = Buffer.alloc(1 << 16);
  const readAvailable = async (): Promise<LogEntry[]> => {
    const out: LogEntry[] = [];
    while (files.length > 0) {
      // A later file exists only once conmon has let go of this one (it reopens, then creates
      // the new file): so if there was one before this read, an end of file here is final.
      const hadNext = files.length > 1;
      const { bytesRead } = await readFd(files[0].fd, chunk, 0, chunk.length, offset);
      if (bytesRead > 0) {
        offset += bytesRead;
        out.push(...parser.push(Buffer.from(chunk.subarray(0, bytesRead))));
        continue;
      }
      if (!hadNext) break;
      closeLogFiles(files.splice(0, 1));
      offset = 0;
    }
    return out;
  };

  let wake: (() => void) | undefined;
  let ended = false;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let stopWatching = () => {};
  if (opts.follow) {
    // Set up before anything is yielded: while the consumer holds an entry, rotations go on.
    // Watch the directory: the file may not exist yet (attach before the first start), and a
    // rotation or conmon's reopen replaces it. New files are opened right away, not when read.
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(dirname(path), { persistent: false }, (event, name) => {
        if (name && !name.toString().startsWith(basename(path))) return;
        // 'rename': a file appeared or went (rotation, conmon's reopen); 'change': more to read.
        if (event === 'rename') openNewer();
        poke();
      });
    } catch {
      watcher = undefined;
    }
    const unsubscribe = onBeforeRotate(path, openNewer);
    const timer = setInterval(poke, 250);
    stopWatching = () => {
      clearInterval(timer);
      watcher?.close();
      unsubscribe();
    };
  }
  try {
    let initial = (await readAvailable()).filter(keep);
    if (opts.tail !== undefined) initial = opts.tail === 0 ? [] : initial.slice(-opts.tail);
    yield* initial;
    if (!opts.follow || opts.signal?.aborted) return;

    opts.untilExited?.then(() => {
      ended = true;
      poke();
    });
    const onAbort = () => {
      ended = true;
      poke();
    };
    opts.signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        const wasEnded = ended;
        openNewer();
        for (const e of await readAvailable()) {
          if ((opts.until !== undefined && e.time > opts.until) || (opts.untilNano !== undefined && e.nano > opts.untilNano)) return;
          if (keep(e)) yield e;
        }
        if (wasEnded || opts.signal?.aborted) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  } finally {
    stopWatching();
    closeLogFiles(files);
  }
}
