// Files in and out of a container's root: export (the merged rootfs as a tar), diff (changes in the
// upper dir), commit's layer tar (the upper dir with overlay whiteouts turned into OCI `.wh.`
// entries) and docker cp (archive GET/HEAD/PUT).
//
// Nothing here runs a program from the container, and paths are resolved by berth inside the
// container's root the way the kernel would inside the container: a symlink to "/etc/passwd"
// means the container's /etc/passwd, `..` stops at the root. Files are opened without following a
// final symlink and checked (through /proc/self/fd) to be inside the root after opening, so a
// running container that swaps a path for a symlink meanwhile gets an error, not a host file.
//
// A running container's root is its mounted overlay. A stopped one is mounted for the operation
// only: read-only as an overlay of [upper, ...image layers] (no work dir, so nothing can collide
// with a start), or read-write with its own upper and work dirs for cp into it.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { basename, join, posix, relative } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import tarStream from 'tar-stream';
import type { SnapshotStore } from '../images/snapshots.js';
import { execChecked, execFileCollect } from '../runtime/exec.js';
import { isMounted, mountOverlay, unmount } from '../runtime/mounts.js';
import { InvalidParameterError, NotFoundError, SystemError } from '../util/errors.js';
import { logger } from '../util/log.js';
import type { ContainerRecord } from './model.js';

const log = logger('archive');

export function containerDirs(dataRoot: string, id: string): { dir: string; upper: string; work: string; merged: string } {
  const dir = join(dataRoot, 'containers', id);
  return { dir, upper: join(dir, 'upper'), work: join(dir, 'work'), merged: join(dir, 'merged') };
}

function isRunning(c: ContainerRecord): boolean {
  return c.state.Status === 'running' || c.state.Status === 'paused';
}

/**
 * Runs `fn` with a host path that shows the container's root: the live mount when it runs, else a
 * temporary mount made for the call (and removed after `fn` settles).
 */
export async function withContainerRoot<T>(
  c: ContainerRecord,
  deps: { dataRoot: string; snapshots: SnapshotStore },
  mode: 'ro' | 'rw',
  fn: (root: string) => Promise<T>,
): Promise<T> {
  const dirs = containerDirs(deps.dataRoot, c.id);
  if (isRunning(c) && (await isMounted(dirs.merged))) return fn(dirs.merged);
  const lowers = c.chainIds.slice().reverse().map((chain) => deps.snapshots.diffPath(chain));
  const target = join(dirs.dir, `mnt-${randomBytes(6).toString('hex')}`);
  await fsp.mkdir(target, { recursive: true, mode: 0o700 });
  try {
    if (mode === 'rw') {
      await mountOverlay({ lowerDirs: lowers, upperDir: dirs.upper, workDir: dirs.work, target });
    } else if (lowers.length === 0) {
      await execChecked('mount', ['-n', '--bind', '-o', 'ro', dirs.upper, target]);
    } else {
      // Relative paths (from the data root) keep long layer lists inside mount(2)'s one page.
      const rel = (p: string) => relative(deps.dataRoot, p);
      await execChecked('mount', ['-n', '-i', '-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${[dirs.upper, ...lowers].map(rel).join(':')}`, target], {
        cwd: deps.dataRoot,
      });
    }
  } catch (err) {
    await fsp.rmdir(target).catch(() => undefined);
    throw new SystemError(`cannot mount the root of container ${c.id.slice(0, 12)}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return await fn(target);
  } finally {
    await unmount(target).catch((err) => log.warn({ err, target }, 'unmount failed'));
    await fsp.rmdir(target).catch((err) => log.warn({ err, target }, 'rmdir of temporary mount failed'));
  }
}

// ---------------------------------------------------------------------------------------------
// Paths inside the root

/**
 * The host path for `path` inside `root`, resolving symlinks as the container would (absolute
 * targets from the container's root, `..` clamped at it). The last component is followed only when
 * `followLast`. Missing components are fine: the rest of the path is appended as it is.
 */
export function resolveInRoot(root: string, path: string, followLast: boolean): { host: string; inside: string } {
  const pending = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const candidate = [...done, part];
    const host = join(root, ...candidate);
    if (pending.length === 0 && !followLast) {
      done.push(part);
      break;
    }
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(host);
    } catch {
      st = undefined;
    }
    if (st?.isSymbolicLink()) {
      if (++hops > 255) throw new InvalidParameterError(`too many levels of symbolic links: ${path}`);
      const target = fs.readlinkSync(host);
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    done.push(part);
  }
  return { host: join(root, ...done), inside: '/' + done.join('/') };
}

/** Opens a file inside `root` for reading without following a final symlink, and proves where it is. */
function openInside(root: string, host: string): number {
  const fd = fs.openSync(host, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    const real = fs.readlinkSync(`/proc/self/fd/${fd}`);
    if (real !== root && !real.startsWith(root + '/')) throw new SystemError(`${host}: resolved outside the container root`);
    if (!fs.fstatSync(fd).isFile()) throw new SystemError(`${host}: changed while being read`);
    return fd;
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Go's os.FileMode, as docker puts it in X-Docker-Container-Path-Stat

const GO_MODE = { dir: 2 ** 31, symlink: 2 ** 27, device: 2 ** 26, pipe: 2 ** 25, socket: 2 ** 24, setuid: 2 ** 23, setgid: 2 ** 22, char: 2 ** 21, sticky: 2 ** 20 };

export function goFileMode(st: fs.Stats): number {
  let m = st.mode & 0o777;
  if (st.isDirectory()) m += GO_MODE.dir;
  else if (st.isSymbolicLink()) m += GO_MODE.symlink;
  else if (st.isFIFO()) m += GO_MODE.pipe;
  else if (st.isSocket()) m += GO_MODE.socket;
  else if (st.isCharacterDevice()) m += GO_MODE.device + GO_MODE.char;
  else if (st.isBlockDevice()) m += GO_MODE.device;
  if (st.mode & 0o4000) m += GO_MODE.setuid;
  if (st.mode & 0o2000) m += GO_MODE.setgid;
  if (st.mode & 0o1000) m += GO_MODE.sticky;
  return m;
}

export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** Stat for docker cp: the path's last component unresolved; linkTarget is the resolved path inside. */
export function statInRoot(root: string, path: string): { stat: PathStat; host: string; inside: string } {
  const followLast = path.endsWith('/') || path.endsWith('/.');
  const { host, inside } = resolveInRoot(root, path, followLast);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(host);
  } catch {
    throw new NotFoundError(`Could not find the file ${path} in container`);
  }
  let linkTarget = '';
  if (st.isSymbolicLink()) linkTarget = resolveInRoot(root, inside, true).inside;
  return {
    stat: { name: basename(inside) || '/', size: st.size, mode: goFileMode(st), mtime: st.mtime.toISOString(), linkTarget },
    host,
    inside,
  };
}

// ---------------------------------------------------------------------------------------------
// Tars of trees

/** Paths runc creates as mount points; docker keeps them in an init layer, so they are not changes. */
const INIT_PATHS = new Set(['/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/.dockerenv', '/dev', '/proc', '/sys', '/etc/mtab', '/dev/pts', '/dev/shm', '/dev/console']);

export interface TarTreeOptions {
  /** Name of the top entry in the tar ("" = the tree's contents at the top, as export and commit). */
  rename: string;
  /** Convert overlay whiteouts and opaque dirs into OCI `.wh.` entries (commit). */
  whiteouts?: boolean;
  /** Container paths ("/etc/hosts") to leave out. */
  exclude?: Set<string>;
  /** Container root, when reading a container's files: each file is proved to be inside it. */
  root?: string;
  /** Path of `top` inside the container, for `exclude`. */
  insidePath?: string;
}

async function opaqueDirs(dir: string): Promise<Set<string>> {
  const r = await execFileCollect('getfattr', ['-R', '-P', '--absolute-names', '-n', 'trusted.overlay.opaque', '-e', 'text', dir]);
  const out = new Set<string>();
  let current: string | undefined;
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('# file: ')) current = line.slice(8).replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    else if (current && /^trusted\.overlay\.opaque="y"/.test(line)) out.add(current);
  }
  return out;
}

/** A tar (tar-stream pack) of `top`, walked without following symlinks. */
export function tarTree(top: string, opts: TarTreeOptions): Readable {
  const pack = tarStream.pack();
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  (pack as unknown as Readable).pipe(out);
  const fail = (err: unknown) => {
    out.destroy(err instanceof Error ? err : new Error(String(err)));
    (pack as unknown as { destroy(): void }).destroy();
  };
  (pack as unknown as NodeJS.EventEmitter).on('error', fail);
  // The reader went away (client gone): stop walking.
  out.on('close', () => (pack as unknown as { destroy(): void }).destroy());
  void (async () => {
    const opaque = opts.whiteouts ? await opaqueDirs(top) : new Set<string>();
    const links = new Map<string, string>();
    const entry = (header: Partial<tarStream.Header> & { name: string }) =>
      new Promise<void>((resolve, reject) => pack.entry(header as tarStream.Header, Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
    const visit = async (host: string, name: string, inside: string): Promise<void> => {
      if (opts.exclude?.has(inside)) return;
      const st = await fsp.lstat(host);
      const base = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
      if (st.isDirectory()) {
        if (name !== '') await entry({ ...base, name: name + '/', type: 'directory' });
        if (opts.whiteouts && opaque.has(host)) await entry({ ...base, name: posix.join(name, '.wh..wh..opq'), mode: 0o644, size: 0, type: 'file' });
        const names = (await fsp.readdir(host)).sort();
        for (const child of names) await visit(join(host, child), name === '' ? child : `${name}/${child}`, posix.join(inside, child));
        return;
      }
      if (st.isCharacterDevice() && st.rdev === 0 && opts.whiteouts) {
        await entry({ ...base, name: posix.join(posix.dirname(name), `.wh.${posix.basename(name)}`), mode: 0o644, size: 0, type: 'file' });
        return;
      }
      if (st.isSymbolicLink()) {
        await entry({ ...base, type: 'symlink', linkname: await fsp.readlink(host) });
        return;
      }
      if (st.isFIFO()) {
        await entry({ ...base, type: 'fifo' });
        return;
      }
      if (st.isCharacterDevice() || st.isBlockDevice()) {
        await entry({
          ...base,
          type: st.isCharacterDevice() ? 'character-device' : 'block-device',
          devmajor: Math.floor(st.rdev / 256) & 0xfff,
          devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
        });
        return;
      }
      if (!st.isFile()) return; // sockets: docker skips them too
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          await entry({ ...base, type: 'link', linkname: first });
          return;
        }
        links.set(key, name);
      }
      const fd = opts.root ? openInside(opts.root, host) : fs.openSync(host, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      let size: number;
      try {
        size = fs.fstatSync(fd).size;
      } catch (err) {
        fs.closeSync(fd);
        throw err;
      }
      if (size === 0) {
        fs.closeSync(fd);
        await entry({ ...base, size: 0, type: 'file' });
        return;
      }
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ ...base, size, type: 'file' }, (err) => (err ? reject(err) : resolve())) as unknown as NodeJS.WritableStream;
        // A file that shrank while being read leaves the entry short: tar-stream reports it here.
        sink.on('error', reject);
        const src = fs.createReadStream('', { fd, highWaterMark: 1 << 20, start: 0, end: size - 1 });
        src.on('error', (err) => {
          reject(err);
          (sink as unknown as { destroy(e: Error): void }).destroy(err);
        });
        src.pipe(sink);
      });
    };
    await visit(top, opts.rename, opts.insidePath ?? '/');
    pack.finalize();
  })().catch(fail);
  return out;
}

/** The tar docker export writes: the container's whole root. */
export function exportTar(root: string): Readable {
  return tarTree(root, { rename: '', root });
}

/** The layer a commit adds: the upper dir, whiteouts as OCI entries, runc's mount points left out. */
export function upperLayerTar(upper: string): Readable {
  return tarTree(upper, { rename: '', whiteouts: true, exclude: INIT_PATHS });
}

// ---------------------------------------------------------------------------------------------
// docker diff

export interface Change {
  Path: string;
  /** 0 modified, 1 added, 2 deleted. */
  Kind: 0 | 1 | 2;
}

/** What the upper dir changed compared with the image's layers (lowers, top first). */
export async function containerChanges(upper: string, lowers: string[]): Promise<Change[]> {
  const opaque = await opaqueDirs(upper);
  const inLower = (rel: string) => lowers.some((l) => existsNoFollow(l, rel));
  const out: Change[] = [];
  const walk = async (host: string, rel: string): Promise<boolean> => {
    let reported = false;
    for (const name of (await fsp.readdir(host)).sort()) {
      const childHost = join(host, name);
      const childRel = posix.join(rel, name);
      if (INIT_PATHS.has(childRel)) continue;
      const st = await fsp.lstat(childHost);
      if (st.isCharacterDevice() && st.rdev === 0) {
        out.push({ Path: childRel, Kind: 2 });
        reported = true;
        continue;
      }
      const existed = inLower(childRel);
      if (st.isDirectory()) {
        const index = out.length;
        const inner = await walk(childHost, childRel);
        if (!existed || inner || opaque.has(childHost)) {
          out.splice(index, 0, { Path: childRel, Kind: existed ? 0 : 1 });
          reported = true;
        }
        continue;
      }
      out.push({ Path: childRel, Kind: existed ? 0 : 1 });
      reported = true;
    }
    return reported;
  };
  await walk(upper, '/');
  return out;
}

/** Whether `rel` exists in a layer dir, never following a symlink (a layer's links are the container's). */
function existsNoFollow(layer: string, rel: string): boolean {
  const parts = rel.split('/').filter(Boolean);
  let p = layer;
  for (let i = 0; i < parts.length; i++) {
    p = join(p, parts[i]!);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return false;
    }
    if (i < parts.length - 1 && !st.isDirectory()) return false;
  }
  return true;
}

