// The container rootfs: an overlay of the image's layer snapshots and the container's upper dir.
import { readFile } from 'node:fs/promises';
import { execChecked, execFileCollect } from './exec.js';

export interface OverlayMount {
  /** Layer diff dirs, top-most first (overlayfs lowerdir order). */
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
  target: string;
}

export async function mountOverlay(m: OverlayMount): Promise<void> {
  if (await isMounted(m.target)) return;
  // overlayfs needs at least one lower dir: an image without layers gets the empty work dir's twin.
  const lower = m.lowerDirs.length > 0 ? m.lowerDirs.join(':') : `${m.upperDir}-empty`;
  if (m.lowerDirs.length === 0) await execChecked('mkdir', ['-p', lower]);
  await execChecked('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${m.upperDir},workdir=${m.workDir}`, m.target]);
}

export async function isMounted(target: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[1] === target);
}

/** Idempotent: unmounting something not mounted is fine. */
export async function unmount(target: string): Promise<void> {
  if (!(await isMounted(target))) return;
  const r = await execFileCollect('umount', [target]);
  if (r.code !== 0 && (await isMounted(target))) {
    // Busy (a process still holds it): detach now, the kernel frees it when the last user goes.
    await execChecked('umount', ['-l', target]);
  }
}
