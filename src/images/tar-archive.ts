// Reading an image archive (docker save output, skopeo's docker-archive/oci-archive) safely.
//
// The archive is never unpacked as a tree: every regular file lands in a flat temp dir under a
// generated name, and the archive's own paths live only in a map. So no entry name can make a
// write land anywhere else. Names are still checked (`..` climbing out, absolute paths, NUL) and a
// hostile one fails the whole load with a clear error, as docker's does. Symlinks and hard links
// inside the archive (docker 25 writes `<id>/layer.tar -> ../blobs/sha256/<hex>`) are resolved in
// the map, lexically, and must stay inside the archive.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { WritebackPacer } from '../store/durable.js';
import { InvalidParameterError } from '../util/errors.js';
import { decompressStream } from './unpack.js';

export class ArchiveError extends InvalidParameterError {}

interface FileEntry {
  kind: 'file';
  tmp: string;
  size: number;
}
interface LinkEntry {
  kind: 'symlink' | 'hardlink';
  target: string;
}
type Entry = FileEntry | LinkEntry | { kind: 'dir' };

/** Cleans an archive member name; refuses anything that is not a plain relative path inside it. */
export function archivePath(name: string): string {
  if (name.startsWith('/')) throw new ArchiveError(`invalid archive: entry ${JSON.stringify(name)} has an absolute path`);
  if (name.includes('\0')) throw new ArchiveError(`invalid archive: entry ${JSON.stringify(name)} has a NUL byte`);
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new ArchiveError(`invalid archive: entry ${JSON.stringify(name)} points outside the archive`);
    parts.push(part);
  }
  return parts.join('/');
}

/** Where a link inside the archive points, as an archive path; refuses anything outside it. */
function linkTarget(name: string, e: LinkEntry): string {
  // A symlink's target is relative to its own directory; a hard link's to the archive root.
  const base = e.kind === 'symlink' ? posix.dirname(name) : '';
  if (e.target.startsWith('/')) throw new ArchiveError(`invalid archive: link ${JSON.stringify(name)} points outside the archive`);
  const joined = posix.normalize(posix.join(base === '.' ? '' : base, e.target));
  if (joined === '..' || joined.startsWith('../')) throw new ArchiveError(`invalid archive: link ${JSON.stringify(name)} points outside the archive`);
  return joined;
}

/**
 * Writes one member to `tmp` with synchronous writes: a write into the page cache takes
 * microseconds, while an async write per 64 KiB socket read cost a thread-pool round trip each
 * (a 500 MB load made ~7,500). Big members (layer tars, which the content store adopts and fsyncs
 * later) start their writeback as they are written.
 */
async function writeEntry(entry: AsyncIterable<unknown>, tmp: string): Promise<number> {
  const fd = fs.openSync(tmp, 'wx', 0o600);
  const writeback = new WritebackPacer(fd);
  let size = 0;
  try {
    for await (const data of entry) {
      const chunk = data as Buffer;
      for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off, chunk.length - off);
      size += chunk.length;
      writeback.wrote(size);
    }
  } finally {
    fs.closeSync(fd);
  }
  return size;
}

export class ExtractedArchive {
  private readonly entries = new Map<string, Entry>();
  private count = 0;

  private constructor(readonly dir: string) {}

  /** Reads the whole archive (gzip/zstd or plain tar) into `parentDir`/archive-<random>. */
  static async read(source: Readable, parentDir: string): Promise<ExtractedArchive> {
    await fsp.mkdir(parentDir, { recursive: true, mode: 0o700 });
    const dir = join(parentDir, `archive-${randomBytes(8).toString('hex')}`);
    await fsp.mkdir(dir, { mode: 0o700 });
    const archive = new ExtractedArchive(dir);
    try {
      await archive.fill(source);
    } catch (err) {
      await archive.dispose();
      throw err;
    }
    return archive;
  }

  private async fill(source: Readable): Promise<void> {
    const tar = decompressStream();
    const extract = tarStream.extract();
    let feedError: Error | undefined;
    const fail = (err: Error) => {
      feedError ??= err;
      extract.destroy(err);
    };
    source.on('error', fail);
    tar.on('error', fail);
    source.pipe(tar).pipe(extract as unknown as NodeJS.WritableStream);
    let sawEntry = false;
    try {
      for await (const entry of extract) {
        sawEntry = true;
        const h = entry.header;
        const name = archivePath(h.name);
        if (h.type === 'directory') {
          entry.resume();
          if (name) this.entries.set(name, { kind: 'dir' });
          continue;
        }
        if (name === '') {
          entry.resume();
          throw new ArchiveError(`invalid archive: entry ${JSON.stringify(h.name)} names the archive root`);
        }
        if (h.type === 'symlink' || h.type === 'link') {
          entry.resume();
          if (!h.linkname) throw new ArchiveError(`invalid archive: link ${JSON.stringify(h.name)} has no target`);
          const link: LinkEntry = { kind: h.type === 'symlink' ? 'symlink' : 'hardlink', target: h.linkname };
          linkTarget(name, link); // refuses a link that leaves the archive, now rather than at use
          this.entries.set(name, link);
          continue;
        }
        if (h.type !== 'file' && h.type !== 'contiguous-file') {
          entry.resume();
          throw new ArchiveError(`invalid archive: entry ${JSON.stringify(h.name)} is a ${String(h.type)}, not a file`);
        }
        const tmp = join(this.dir, `f${this.count++}`);
        this.entries.set(name, { kind: 'file', tmp, size: await writeEntry(entry, tmp) });
      }
      if (feedError) throw feedError;
      if (!sawEntry) throw new ArchiveError('invalid archive: no files in the tar (is it an image archive?)');
    } catch (err) {
      extract.destroy();
      source.unpipe();
      source.resume();
      if (err instanceof ArchiveError) throw err;
      const msg = (feedError ?? err) instanceof Error ? ((feedError ?? err) as Error).message : String(err);
      throw new ArchiveError(`invalid archive: ${msg}`);
    } finally {
      source.off('error', fail);
    }
  }

  /** The regular file an archive path names, following links inside the archive only. */
  resolve(path: string, hops = 0): FileEntry | undefined {
    if (hops > 40) throw new ArchiveError(`invalid archive: too many levels of links at ${JSON.stringify(path)}`);
    const name = archivePath(path);
    const e = this.entries.get(name);
    if (!e || e.kind === 'dir') return undefined;
    if (e.kind === 'file') return e;
    const joined = linkTarget(name, e);
    return this.resolve(joined, hops + 1);
  }

  /** Whether the path names a file; a link that leaves the archive is an error, not a "no". */
  has(path: string): boolean {
    return this.resolve(path) !== undefined;
  }

  /** The whole (small) file: manifest.json, index.json, configs. */
  async readSmall(path: string, limit = 32 << 20): Promise<Buffer> {
    const e = this.resolve(path);
    if (!e) throw new ArchiveError(`invalid archive: ${JSON.stringify(path)} is missing`);
    if (e.size > limit) throw new ArchiveError(`invalid archive: ${JSON.stringify(path)} is larger than ${limit} bytes`);
    return fsp.readFile(e.tmp);
  }

  /** The temp file holding a member (callers may move it away; dispose() removes the rest). */
  filePath(path: string): string {
    const e = this.resolve(path);
    if (!e) throw new ArchiveError(`invalid archive: ${JSON.stringify(path)} is missing`);
    return e.tmp;
  }

  open(path: string): { stream: Readable; size: number } {
    const e = this.resolve(path);
    if (!e) throw new ArchiveError(`invalid archive: ${JSON.stringify(path)} is missing`);
    return { stream: fs.createReadStream(e.tmp, { highWaterMark: 1 << 20 }), size: e.size };
  }

  async dispose(): Promise<void> {
    await fsp.rm(this.dir, { recursive: true, force: true });
  }
}
