// berth-sys.node (native/sys.c): mount(2), umount2(2), network-namespace creation, syncfs(2) and
// the overlayfs opaque-dir xattr without spawning util-linux / coreutils / attr programs (5-13 ms
// each here). Absent (not built), callers fall back to
// spawning; `npm run build` builds it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { nativePath } from '../util/assets.js';

export interface SysAddon {
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null, cwd?: string): void;
  umount(target: string, flags: number): void;
  /** A new network namespace with lo up, bind-mounted on `path` (an existing empty file). */
  createNetns(path: string): void;
  /** The same on libuv's thread pool: an unmount can block for an RCU grace period (10-20 ms). */
  mountAsync(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): Promise<void>;
  umountAsync(target: string, flags: number): Promise<void>;
  createNetnsAsync(path: string): Promise<void>;
  /** syncfs(2) of the filesystem holding `path`, on the thread pool. */
  syncfsAsync(path: string): Promise<void>;
  /** Whether overlayfs marked this (upper) directory opaque: trusted.overlay.opaque = "y". */
  isOpaqueDir(path: string): boolean;
}

/** Error thrown by the addon: the message names the call and path, errno is the C errno. */
export type SysError = Error & { errno: number };

export const MS_RDONLY = 1;
export const MS_BIND = 4096;
export const MS_REC = 16384;
export const MNT_DETACH = 2;
export const EINVAL = 22;
export const ENOENT = 2;
export const EBUSY = 16;

let cached: SysAddon | null | undefined;

export function sysAddon(): SysAddon | null {
  if (cached !== undefined) return cached;
  const path = nativePath('berth-sys.node');
  cached = existsSync(path) ? (createRequire(import.meta.url)(path) as SysAddon) : null;
  return cached;
}
