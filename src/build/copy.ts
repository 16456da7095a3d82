// COPY and ADD sources: glob matching in the build context (or another stage's rootfs), content
// hashing for the cache, and copying into a step's mounted rootfs with symlinks resolved inside it.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { resolveInRootfs } from '../runtime/spec.js';
import { globToRegExp } from './lex.js';

export class CopyError extends Error {}

export interface SourceItem {
  /** Absolute host path of the resolved source. */
  abs: string;
  /** Path relative to the source root, for messages and hashing. */
  rel: string;
  st: fs.Stats;
  /** A glob matched it (dest is then a directory when several match). */
  fromGlob: boolean;
}

const GLOB = /[*?[]/;

/** Go's filepath.Match per component, over the tree under root. */
async function globMatch(root: string, pattern: string): Promise<string[]> {
  const parts = pattern.split('/').filter((p) => p !== '' && p !== '.');
  let current = [''];
  for (const part of parts) {
    const next: string[] = [];
    for (const base of current) {
      if (!GLOB.test(part)) {
        const rel = base ? `${base}/${part}` : part;
        if (fs.existsSync(join(root, rel)) || isLink(join(root, rel))) next.push(rel);
        continue;
      }
      const re = globToRegExp(part);
      let names: string[] = [];
      try {
        names = await fsp.readdir(join(root, base));
      } catch {
        continue;
      }
      for (const n of names.sort()) if (re.test(n) && !(n.startsWith('.') && !part.startsWith('.') && false)) next.push(base ? `${base}/${n}` : n);
    }
    current = next;
  }
  return current.filter((c) => c !== '');
}

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Resolve COPY/ADD sources against root. Classic builder rules: a path that climbs out of the
 * context is forbidden; a missing path or an unmatched glob is an error; symlinks in the source
 * path are followed inside root only.
 */
export async function resolveSources(root: string, sources: string[], what: string, fromContext: boolean): Promise<SourceItem[]> {
  const out: SourceItem[] = [];
  for (const src of sources) {
    const cleaned = posix.normalize(src);
    if (fromContext && (cleaned === '..' || cleaned.startsWith('../'))) {
      throw new CopyError(`${what} failed: forbidden path outside the build context: ${src} ()`);
    }
    const rel = posix.normalize(`/${cleaned}`).slice(1);
    const matches = GLOB.test(rel) ? await globMatch(root, rel) : [rel];
    if (GLOB.test(rel) && matches.length === 0) throw new CopyError(`${what} failed: no source files were specified`);
    for (const m of matches) {
      const abs = await resolveInRootfs(root, m);
      let st: fs.Stats;
      try {
        st = await fsp.lstat(abs);
      } catch {
        if (fromContext) throw new CopyError(`${what} failed: file not found in build context or excluded by .dockerignore: stat ${src}: file does not exist`);
        throw new CopyError(`${what} failed: stat ${posix.join('/', rel)}: file does not exist`);
      }
      out.push({ abs, rel: m || '.', st, fromGlob: GLOB.test(rel) });
    }
  }
  return out;
}

/** A digest of the sources' names, modes, link targets and content (mtime excluded, as tarsum). */
export async function hashSources(items: SourceItem[]): Promise<string> {
  const h = createHash('sha256');
  const visit = async (abs: string, rel: string, st: fs.Stats) => {
    h.update(`${rel}\0${st.mode}\0`);
    if (st.isSymbolicLink()) h.update(`l${await fsp.readlink(abs)}\0`);
    else if (st.isFile()) h.update(`f${st.size}\0`).update(await fsp.readFile(abs));
    else if (st.isDirectory()) {
      for (const n of (await fsp.readdir(abs)).sort()) {
        const c = join(abs, n);
        await visit(c, `${rel}/${n}`, await fsp.lstat(c));
      }
    }
  };
  for (const it of items) await visit(it.abs, it.rel, it.st);
  return h.digest('hex');
}

export interface CopyOptions {
  rootfs: string;
  /** Absolute destination path inside the rootfs, as the instruction gives it after expansion. */
  dest: string;
  /** The destination names a directory (trailing slash, several sources, or a glob). */
  destIsDir: boolean;
  uid?: number;
  gid?: number;
  /** Keep the source owner (COPY --from) when no --chown is given. */
  preserveOwner: boolean;
  chmod?: number;
}

async function ensureDir(rootfs: string, path: string): Promise<string> {
  const resolved = await resolveInRootfs(rootfs, path);
  await fsp.mkdir(resolved, { recursive: true, mode: 0o755 });
  return resolved;
}

async function isDirInRootfs(rootfs: string, path: string): Promise<boolean> {
  try {
    return (await fsp.stat(await resolveInRootfs(rootfs, path))).isDirectory();
  } catch {
    return false;
  }
}

async function setMeta(p: string, st: fs.Stats, o: CopyOptions): Promise<void> {
  const uid = o.uid ?? (o.preserveOwner ? st.uid : 0);
  const gid = o.gid ?? (o.preserveOwner ? st.gid : 0);
  await fsp.lchown(p, uid, gid);
  if (!st.isSymbolicLink()) {
    await fsp.chmod(p, o.chmod ?? st.mode & 0o7777);
    await fsp.utimes(p, st.atime, st.mtime);
  } else {
    await fsp.lutimes(p, st.atime, st.mtime).catch(() => undefined);
  }
}

/** Replace whatever is at `target` (not a directory) so a new entry can go there. */
async function clear(target: string, keepDir: boolean): Promise<boolean> {
  try {
    const st = await fsp.lstat(target);
    if (st.isDirectory()) {
      if (keepDir) return true;
      await fsp.rm(target, { recursive: true, force: true });
      return false;
    }
    await fsp.unlink(target);
  } catch {
    // nothing there
  }
  return false;
}

/** Copy one entry (recursively for directories) to `target`, a host path already inside the rootfs. */
async function copyEntry(src: string, st: fs.Stats, target: string, o: CopyOptions): Promise<void> {
  if (st.isDirectory()) {
    const exists = await clear(target, true);
    if (!exists) await fsp.mkdir(target);
    for (const n of await fsp.readdir(src)) {
      const c = join(src, n);
      await copyEntry(c, await fsp.lstat(c), join(target, n), o);
    }
    await setMeta(target, st, o);
  } else if (st.isSymbolicLink()) {
    await clear(target, false);
    await fsp.symlink(await fsp.readlink(src), target);
    await setMeta(target, st, o);
  } else if (st.isFile()) {
    await clear(target, false);
    await fsp.copyFile(src, target);
    await setMeta(target, st, o);
  }
  // Devices, fifos and sockets in a context are skipped.
}

/** COPY semantics: a directory's contents go into dest; a file goes to dest, or into it if a dir. */
export async function copyItems(items: SourceItem[], o: CopyOptions): Promise<void> {
  for (const it of items) {
    const st = it.st.isSymbolicLink() ? await fsp.stat(it.abs).catch(() => it.st) : it.st;
    if (st.isDirectory()) {
      const dir = await ensureDir(o.rootfs, o.dest);
      for (const n of await fsp.readdir(it.abs)) {
        const c = join(it.abs, n);
        await copyEntry(c, await fsp.lstat(c), join(dir, n), o);
      }
      continue;
    }
    let destPath = o.dest;
    if (o.destIsDir || (await isDirInRootfs(o.rootfs, o.dest))) destPath = posix.join(o.dest, basename(it.rel));
    const parent = await ensureDir(o.rootfs, posix.dirname(destPath));
    await copyEntry(it.abs, st, join(parent, posix.basename(destPath)), o);
  }
}

/** Write an in-memory file (COPY heredoc, ADD URL download) into the rootfs. */
export async function writeFileInto(o: CopyOptions, name: string, data: Buffer | string, mode: number, mtime?: Date): Promise<void> {
  let destPath = o.dest;
  if (o.destIsDir || (await isDirInRootfs(o.rootfs, o.dest))) destPath = posix.join(o.dest, name);
  const parent = await ensureDir(o.rootfs, posix.dirname(destPath));
  const target = join(parent, posix.basename(destPath));
  await clear(target, false);
  await fsp.writeFile(target, data, { mode });
  await fsp.lchown(target, o.uid ?? 0, o.gid ?? 0);
  await fsp.chmod(target, o.chmod ?? mode);
  if (mtime) await fsp.utimes(target, mtime, mtime);
}

/** Parse --chmod: octal only, as the classic builder and BuildKit both accept it. */
export function parseChmod(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-7]{3,4}$/.test(v)) throw new CopyError(`invalid chmod parameter: ${v}: only octal modes such as 0755 are supported`);
  return parseInt(v, 8);
}
