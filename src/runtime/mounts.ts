// The container rootfs: an overlay of the image's layer snapshots and the container's upper dir.
// mount(2)/umount2(2) through berth-sys.node; util-linux `mount`/`umount` (one spawn each, ~13 ms
// here) only when the addon is not built.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { execChecked, execFileCollect } from './exec.js';
import { EINVAL, ENOENT, MNT_DETACH, MS_BIND, MS_RDONLY, sysAddon, type SysError } from './sys.js';

export interface OverlayMount {
  /** Layer diff dirs, top-most first (overlayfs lowerdir order). */
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
  target: string;
}

/**
 * mount(2) copies options into a single page: longer than this and the kernel rejects the mount.
 * Leave room for the terminating NUL and for what libmount may add.
 */
const MAX_OPTIONS = 4096 - 128;

/** Longest common parent directory of absolute paths. */
function commonDir(paths: string[]): string {
  let prefix = dirname(paths[0]);
  for (const p of paths) {
    while (prefix !== '/' && !(p === prefix || p.startsWith(`${prefix}/`))) prefix = dirname(prefix);
  }
  return prefix;
}

/**
 * The overlay mount options, and the directory to run `mount` in. With many layers the absolute
 * lowerdir list overflows a page, so the paths are made relative to their common parent and
 * mount runs with that as its cwd: the kernel resolves relative option paths against the
 * mounting process's cwd (the trick containerd uses).
 */
export function overlayOptions(m: OverlayMount): { options: string; cwd?: string } {
  const absolute = `lowerdir=${m.lowerDirs.join(':')},upperdir=${m.upperDir},workdir=${m.workDir}`;
  if (absolute.length <= MAX_OPTIONS) return { options: absolute };
  const cwd = commonDir([...m.lowerDirs, m.upperDir, m.workDir]);
  const rel = (p: string) => relative(cwd, p) || '.';
  const options = `lowerdir=${m.lowerDirs.map(rel).join(':')},upperdir=${rel(m.upperDir)},workdir=${rel(m.workDir)}`;
  if (options.length > MAX_OPTIONS) throw new Error(`overlay mount options too long (${m.lowerDirs.length} layers, ${options.length} bytes)`);
  return { options, cwd };
}

export async function mountOverlay(m: OverlayMount): Promise<void> {
  if (await isMounted(m.target)) return;
  await Promise.all([mkdir(m.target, { recursive: true }), mkdir(m.upperDir, { recursive: true }), mkdir(m.workDir, { recursive: true })]);
  if (m.lowerDirs.length === 0) {
    // overlayfs needs a lower dir. An image without layers is just its (empty) upper dir: bind it,
    // so the container's writes still land in upperDir where diff/commit look for them.
    const sys = sysAddon();
    if (sys) await sys.mountAsync(m.upperDir, m.target, null, MS_BIND, null);
    else await execChecked('mount', ['--bind', m.upperDir, m.target]);
    return;
  }
  const { options, cwd } = overlayOptions(m);
  const sys = sysAddon();
  if (sys) {
    // Relative lowerdirs need the cwd, which is process-wide: that rare case stays on this thread.
    if (cwd) sys.mount('overlay', m.target, 'overlay', 0, options, cwd);
    else await sys.mountAsync('overlay', m.target, 'overlay', 0, options);
    return;
  }
  // -i: no /sbin/mount.overlay helper lookup; -n: no mtab write. Both save work per mount.
  await execChecked('mount', ['-n', '-i', '-t', 'overlay', 'overlay', '-o', options, m.target], { cwd });
}

/**
 * A read-only overlay of layer dirs (top-most first) at `target`, with no upper dir: a stage's or an
 * image's rootfs to read from (COPY --from, RUN --mount from=). The caller creates `target`.
 */
export async function mountReadOnlyOverlay(lowerDirs: string[], target: string): Promise<void> {
  const absolute = `lowerdir=${lowerDirs.join(':')}`;
  let options = absolute;
  let cwd: string | undefined;
  if (absolute.length > MAX_OPTIONS) {
    cwd = commonDir(lowerDirs);
    options = `lowerdir=${lowerDirs.map((p) => relative(cwd!, p) || '.').join(':')}`;
    if (options.length > MAX_OPTIONS) throw new Error(`overlay mount options too long (${lowerDirs.length} layers, ${options.length} bytes)`);
  }
  const sys = sysAddon();
  if (sys) {
    if (cwd) sys.mount('overlay', target, 'overlay', MS_RDONLY, options, cwd);
    else await sys.mountAsync('overlay', target, 'overlay', MS_RDONLY, options);
    return;
  }
  await execChecked('mount', ['-n', '-i', '-t', 'overlay', '-o', `ro,${options}`, 'overlay', target], { cwd });
}

export async function isMounted(target: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  const escaped = target.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return mounts.split('\n').some((line) => line.split(' ')[1] === escaped);
}

/** Idempotent: unmounting something not mounted is fine. */
export async function unmount(target: string): Promise<void> {
  const sys = sysAddon();
  if (sys) {
    try {
      await sys.umountAsync(target, 0);
    } catch (err) {
      const errno = (err as SysError).errno;
      // EINVAL: not a mount point (already unmounted); ENOENT: gone altogether.
      if (errno === EINVAL || errno === ENOENT) return;
      // Busy (a process still holds it): detach now, the kernel frees it when the last user goes.
      await sys.umountAsync(target, MNT_DETACH);
    }
    return;
  }
  if (!(await isMounted(target))) return;
  const r = await execFileCollect('umount', [target]);
  if (r.code !== 0 && (await isMounted(target))) {
    // Busy (a process still holds it): detach now, the kernel frees it when the last user goes.
    await execChecked('umount', ['-l', target]);
  }
}
