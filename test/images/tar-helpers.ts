// Building layer tars in tests with tar-stream (the same library the unpacker reads with, but the
// bytes are plain ustar/pax: GNU tar reads them identically).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';

export interface TarEntrySpec {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device' | 'block-device';
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
  pax?: Record<string, string>;
  devmajor?: number;
  devminor?: number;
}

export const MTIME = new Date('2020-01-02T03:04:05Z');

export async function buildTar(entries: TarEntrySpec[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(Buffer.from(c as Uint8Array)));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? MTIME,
      linkname: e.linkname,
      pax: e.pax,
      devmajor: e.devmajor,
      devminor: e.devminor,
    };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry(header, e.content ?? '', cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function streamOf(buf: Buffer, chunk = 64 * 1024): Readable {
  let off = 0;
  return new Readable({
    read() {
      if (off >= buf.length) {
        this.push(null);
        return;
      }
      this.push(buf.subarray(off, off + chunk));
      off += chunk;
    },
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(join(tmpdir(), `berth-${prefix}-`));
}

/** rm -rf that also copes with mounts left behind by a failed test. */
export function cleanup(dir: string): void {
  try {
    const mounts = fs.readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1])
      .filter((m): m is string => !!m && m.startsWith(dir))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) execFileSync('umount', ['-l', m]);
  } catch {
    // best effort: the rm below reports what matters
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

export function getXattr(path: string, name: string): string | undefined {
  try {
    return execFileSync('getfattr', ['-h', '--only-values', '-n', name, path], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  } catch {
    return undefined;
  }
}
