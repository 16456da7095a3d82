// berth-sys.node (native/sys.c, netlink.c, spawn.c): mount(2), umount2(2), network-namespace
// creation, bridge/veth links, syncfs(2) and the overlayfs opaque-dir xattr without spawning
// util-linux programs, CNI plugins or getfattr (5-40 ms each here), and posix_spawn from a pool
// thread for the programs berthd does run. Absent (not built), callers fall back to spawning with
// child_process; `npm run build` builds it.
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
  /** The bridge device with the gateway address, up (an existing one is kept). netlink.c */
  bridgeEnsureAsync(name: string, address: string, prefixLen: number, mtu: number): Promise<void>;
  /** A veth pair: `hostIf` on `bridge`, its peer `ifName` in the namespace at `netnsPath`, addressed and routed. */
  vethAttachAsync(hostIf: string, bridge: string, netnsPath: string, ifName: string, mac: string, address: string, prefixLen: number, gateway: string | null, mtu: number): Promise<void>;
  linkDeleteAsync(name: string): Promise<void>;
  /** Runs a program from a pool thread (posix_spawn) and collects its output. spawn.c */
  spawnAsync(file: string, args: string[], env: string[] | null, opts?: SpawnOptions): Promise<SpawnResult>;
  /** Starts a program with pipes (posix_spawn on this thread); the caller reaps it with waitPid. spawn.c */
  spawnPiped(file: string, args: string[], env: string[] | null, opts?: { cwd?: string; stdin?: boolean }): { pid: number; stdin: number; stdout: number; stderr: number };
  /** waitpid(WNOHANG): null while the child runs; code -1 when `signal` killed it. */
  waitPid(pid: number): { code: number; signal: number } | null;
  /** syncfs(2) of the filesystem holding `path`, on the thread pool. */
  syncfsAsync(path: string): Promise<void>;
  /** A memfd with a sealed copy of the executable at `path` (returns its fd). sealed.c */
  sealedCopy(path: string): number;
  /** sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE): start writing the file's dirty pages back; false if refused. */
  startWriteback(fd: number): boolean;
  /** malloc_trim(0) on the thread pool: true when memory went back to the kernel. memory.c */
  trimMemoryAsync(): Promise<boolean>;
  /** Whether overlayfs marked this (upper) directory opaque: trusted.overlay.opaque = "y". */
  isOpaqueDir(path: string): boolean;
  /** chattr +T on a directory (ext4 spreads its subdirectories over block groups); false where refused. */
  markTopDir(path: string): boolean;
}

export interface SpawnOptions {
  cwd?: string;
  /** Written to stdin; /dev/null otherwise. */
  input?: string;
  /** A new session (and process group). */
  setsid?: boolean;
  /** A pipe on fd 3 (conmon's _OCI_SYNCPIPE): the call returns after the first child exits and one line arrives there. */
  syncPipe?: boolean;
  timeoutMs?: number;
}

export interface SpawnResult {
  pid: number;
  /** -1 when killed by `signal`. */
  code: number;
  signal: number;
  timedOut: boolean;
  stdout: Buffer;
  stderr: Buffer;
  sync?: Buffer;
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
export const ENODEV = 19;

let cached: SysAddon | null | undefined;

export function sysAddon(): SysAddon | null {
  if (cached !== undefined) return cached;
  const path = nativePath('berth-sys.node');
  cached = existsSync(path) ? (createRequire(import.meta.url)(path) as SysAddon) : null;
  return cached;
}
