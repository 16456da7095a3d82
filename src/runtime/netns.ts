// A network namespace per container, with loopback up: what docker's `--network none` gives,
// and the handle the network plugins will attach to later.
//
// With berth-sys.node (native/sys.c) creation and removal are system calls made in-process.
// Without it, spawning is the cost (~7 ms for /bin/true on this host), so creation is one spawn:
// `unshare --net=<file> ip link set lo up` makes the namespace, pins it with a bind mount on
// <file> and brings lo up inside it (~17-21 ms), where `ip netns add` + `ip -n .. link set lo up`
// takes two (~28 ms). Removal is one `umount` plus an unlink done here.
// The files live in /run/netns so `ip netns` and CNI tools see them.
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { SystemError } from '../util/errors.js';
import { execChecked, execFileCollect } from './exec.js';
import { EINVAL, ENOENT, MNT_DETACH, sysAddon, type SysError } from './sys.js';

export const NETNS_DIR = '/run/netns';

export function netnsPath(name: string, dir = NETNS_DIR): string {
  return join(dir, name);
}

async function isMountPoint(path: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[4] === path);
}

let dirReady: Promise<void> | undefined;

/**
 * What `ip netns add` does once: /run/netns becomes a shared mount of itself, so a namespace
 * unmounted here is also unmounted in mount namespaces that copied it (a container created while
 * the file was mounted would otherwise keep the namespace alive).
 */
function prepareDir(dir: string): Promise<void> {
  if (dir !== NETNS_DIR) return mkdir(dir, { recursive: true }).then(() => undefined);
  dirReady ??= (async () => {
    await mkdir(dir, { recursive: true });
    if (await isMountPoint(dir)) return;
    const r = await execFileCollect('mount', ['--make-shared', dir]);
    if (r.code !== 0) {
      await execChecked('mount', ['--bind', dir, dir]);
      await execChecked('mount', ['--make-shared', dir]);
    }
  })().catch((err) => {
    dirReady = undefined;
    throw err;
  });
  return dirReady;
}

export async function createNetns(name: string, dir = NETNS_DIR): Promise<string> {
  const path = netnsPath(name, dir);
  await prepareDir(dir);
  // An existing, mounted namespace file is reused (idempotent create, e.g. a retried start).
  if (existsSync(path) && (await isMountPoint(path))) {
    await execChecked('ip', ['-n', name, 'link', 'set', 'lo', 'up']).catch(() => undefined);
    return path;
  }
  const fh = await open(path, 'w');
  await fh.close();
  const sys = sysAddon();
  if (sys) {
    try {
      await sys.createNetnsAsync(path);
    } catch (err) {
      await removeNetns(name, dir).catch(() => undefined);
      throw new SystemError(`create network namespace ${name}: ${(err as Error).message}`, { cause: err });
    }
    return path;
  }
  const r = await execFileCollect('unshare', [`--net=${path}`, 'ip', 'link', 'set', 'lo', 'up']);
  if (r.code !== 0) {
    await removeNetns(name, dir).catch(() => undefined);
    throw new SystemError(`create network namespace ${name}: ${r.stderr.trim() || `exit status ${r.code}`}`);
  }
  return path;
}

/** Idempotent: a namespace already gone is fine. */
export async function removeNetns(name: string, dir = NETNS_DIR): Promise<void> {
  const path = netnsPath(name, dir);
  if (!existsSync(path)) return;
  const sys = sysAddon();
  if (sys) {
    try {
      await sys.umountAsync(path, 0);
    } catch (err) {
      const errno = (err as SysError).errno;
      if (errno !== EINVAL && errno !== ENOENT) await sys.umountAsync(path, MNT_DETACH);
    }
  } else if (await isMountPoint(path)) {
    const r = await execFileCollect('umount', [path]);
    if (r.code !== 0 && (await isMountPoint(path))) {
      const lazy = await execFileCollect('umount', ['-l', path]);
      if (lazy.code !== 0) throw new SystemError(`remove network namespace ${name}: ${(lazy.stderr || r.stderr).trim()}`);
    }
  }
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
