// A build step's layer: the overlayfs upper dir of the step, turned into an OCI layer tar
// (whiteout devices → `.wh.<name>`, opaque dirs → `.wh..wh..opq`, hard links within the layer as
// tar links), hashed for its diff ID while it is gzipped into the content store, and the upper dir
// itself committed as the layer's snapshot (it already is in overlayfs lower-dir format).
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import tarStream from 'tar-stream';
import { MediaType, type Descriptor } from '../images/oci.js';
import type { SnapshotStore } from '../images/snapshots.js';
import type { ContentStore } from '../store/content.js';
import { sysAddon } from '../runtime/sys.js';
import { sha256Digest } from '../util/digest.js';
import { logger } from '../util/log.js';

const log = logger('build');
const execFileAsync = promisify(execFile);

export interface CommittedLayer {
  descriptor: Descriptor;
  diffId: string;
  chainId: string;
  /** Bytes of regular file content. */
  size: number;
  /**
   * What this commit wrote without an fsync (the snapshot's files and dirs, the blob, their parent
   * dirs): the build makes them durable in one batch before it records the image.
   */
  unsynced: string[];
}

/**
 * Directories of `upper` marked opaque by overlayfs: an lgetxattr per directory through berth-sys,
 * or (addon not built) one getfattr run for the whole tree.
 */
async function opaqueDirs(upper: string, entries: Entry[]): Promise<Set<string>> {
  const out = new Set<string>();
  const dirs = entries.filter((e) => e.st.isDirectory());
  if (dirs.length === 0) return out;
  const sys = sysAddon();
  if (sys) {
    for (const d of dirs) if (sys.isOpaqueDir(join(upper, d.rel))) out.add(join(upper, d.rel));
    return out;
  }
  try {
    const { stdout } = await execFileAsync('getfattr', ['-R', '-d', '--absolute-names', '-m', '^trusted\\.overlay\\.opaque$', '--', upper], {
      maxBuffer: 64 * 1024 * 1024,
    });
    let file: string | undefined;
    for (const line of stdout.split('\n')) {
      if (line.startsWith('# file: ')) file = unescapeGetfattr(line.slice(8));
      else if (file && /^trusted\.overlay\.opaque="y"$/.test(line)) out.add(file);
    }
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string };
    // getfattr exits 1 when some file has no xattr support; what it printed still counts.
    if (e.code === 'ENOENT') throw new Error('getfattr not found: install the attr package');
    log.debug({ err }, 'getfattr reported errors');
  }
  return out;
}

function unescapeGetfattr(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

interface Entry {
  rel: string;
  st: fs.Stats;
}

function walk(root: string): Entry[] {
  const out: Entry[] = [];
  const visit = (rel: string) => {
    const names = fs.readdirSync(rel ? join(root, rel) : root).sort();
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(join(root, r));
      out.push({ rel: r, st });
      if (st.isDirectory()) visit(r);
    }
  };
  visit('');
  return out;
}

function major(rdev: number): number {
  return ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfff);
}
function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >> 12) & ~0xff);
}

/**
 * Streams the upper dir as a layer tar into `sink`. Returns the regular-file byte count. Entries are
 * sorted, so the same tree always gives the same tar.
 */
async function writeLayerTar(upper: string, sink: NodeJS.WritableStream & { on: NodeJS.WritableStream['on'] }, findOpaque: boolean): Promise<{ size: number; entries: Entry[] }> {
  const entries = walk(upper);
  const opaque = findOpaque ? await opaqueDirs(upper, entries) : new Set<string>();
  const pack = tarStream.pack();
  const done = pipeline(pack as unknown as NodeJS.ReadableStream, sink as NodeJS.WritableStream);
  const inodes = new Map<string, string>();
  let size = 0;
  const put = (header: Partial<tarStream.Header> & { name: string }, body?: Buffer | string) =>
    new Promise<void>((resolve, reject) => {
      pack.entry(header as tarStream.Header, body ?? '', (err?: Error | null) => (err ? reject(err) : resolve()));
    });
  for (const { rel, st } of entries) {
    const base = { name: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    const slash = rel.lastIndexOf('/');
    const dir = slash < 0 ? '' : rel.slice(0, slash + 1);
    const name = rel.slice(slash + 1);
    if (st.isCharacterDevice() && st.rdev === 0) {
      await put({ ...base, name: `${dir}.wh.${name}`, type: 'file', size: 0, mode: 0o644 });
    } else if (st.isDirectory()) {
      await put({ ...base, type: 'directory' });
      if (opaque.has(join(upper, rel))) await put({ name: `${rel}/.wh..wh..opq`, type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: st.mtime });
    } else if (st.isSymbolicLink()) {
      await put({ ...base, type: 'symlink', linkname: fs.readlinkSync(join(upper, rel)) });
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? inodes.get(key) : undefined;
      if (first) {
        await put({ ...base, type: 'link', linkname: first, size: 0 });
        continue;
      }
      if (st.nlink > 1) inodes.set(key, rel);
      size += st.size;
      await new Promise<void>((resolve, reject) => {
        const w = pack.entry({ ...base, type: "file", size: st.size } as tarStream.Header, (err?: Error | null) => (err ? reject(err) : resolve()));
        const r = fs.createReadStream(join(upper, rel));
        r.on('error', reject);
        r.pipe(w as unknown as NodeJS.WritableStream);
      });
    } else if (st.isFIFO()) {
      await put({ ...base, type: 'fifo' });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      await put({ ...base, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: major(st.rdev), devminor: minor(st.rdev) });
    }
    // Sockets are not part of a layer.
  }
  pack.finalize();
  await done;
  return { size, entries };
}

/**
 * Turn `upper` into a committed layer on top of `parentChainId`: layer blob (gzip) in the content
 * store, snapshot under its chain ID (the upper dir is moved into place, or dropped if the snapshot
 * exists already). `upper` is consumed either way.
 */
export async function commitUpper(
  deps: { content: ContentStore; snapshots: SnapshotStore },
  upper: string,
  parentChainId: string | undefined,
  tmpDir: string,
  /**
   * Look for opaque directories (one getfattr run). Only a step that may delete and recreate a
   * directory of a lower layer (RUN) makes them; COPY and ADD never do.
   */
  findOpaque = true,
): Promise<CommittedLayer> {
  const tmp = join(tmpDir, `layer-${randomBytes(6).toString('hex')}.tar.gz`);
  const diffHash = createHash('sha256');
  const blobHash = createHash('sha256');
  let blobSize = 0;
  const gzip = zlib.createGzip({ level: 6 });
  const out = fs.createWriteStream(tmp);
  gzip.on('data', (c: Buffer) => {
    blobHash.update(c);
    blobSize += c.length;
  });
  const gzDone = pipeline(gzip, out);
  const hasher = new Transform({
    transform(chunk: Buffer, _e, cb) {
      diffHash.update(chunk);
      cb(null, chunk);
    },
  });
  const hashDone = pipeline(hasher, gzip);
  let size: number;
  try {
    const written = await writeLayerTar(upper, hasher, findOpaque);
    size = written.size;
    await hashDone;
    await gzDone;
    const diffId = `sha256:${diffHash.digest('hex')}`;
    const digest = `sha256:${blobHash.digest('hex')}`;
    // Moved into the store, not copied; not fsynced here: the build syncs the filesystem once
    // before it records the image (SnapshotStore.sync).
    const unsynced: string[] = [];
    if (await deps.content.adopt(digest, tmp, { durable: false })) unsynced.push(deps.content.path(digest), deps.content.blobsDir);
    const chainId = parentChainId ? sha256Digest(`${parentChainId} ${diffId}`) : diffId;
    const snap = await deps.snapshots.prepare(chainId, async (diffDir) => {
      await fsp.rmdir(diffDir);
      await fsp.rename(upper, diffDir);
      return { size };
    }, { sync: false });
    if (snap.created) {
      const diff = deps.snapshots.diffPath(chainId);
      const dir = dirname(diff);
      // Files and dirs; whiteout devices, symlinks and fifos live in their directory's entries.
      const inLayer = written.entries.filter((e) => e.st.isFile() || e.st.isDirectory()).map((e) => join(diff, e.rel));
      unsynced.push(...inLayer, diff, join(dir, 'info.json'), dir, deps.snapshots.dir);
    }
    return { descriptor: { mediaType: MediaType.ociLayerGzip, digest, size: blobSize }, diffId, chainId, size, unsynced };
  } finally {
    await fsp.rm(tmp, { force: true });
    await fsp.rm(upper, { recursive: true, force: true });
  }
}
