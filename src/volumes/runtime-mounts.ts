// A container's mount points as OCI mounts at start. Each destination is resolved inside the
// rootfs first (a symlink in the image at the target must not point the mount at the host), the
// mount point is made there, and an empty volume gets the image's content at that path (docker's
// copy-up, skipped with `nocopy`). Read-only binds rely on the runtime's remount (runc and crun
// both remount a bind with `ro`), so the container cannot write through them.
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { resolveInRoot } from '../containers/archive.js';
import { execChecked } from '../runtime/exec.js';
import type { OciMount } from '../runtime/spec.js';
import type { MountPoint } from './model.js';
import type { VolumeStore } from './store.js';

/** Default tmpfs flags (moby's for --tmpfs and --mount type=tmpfs); the user's options override. */
const TMPFS_DEFAULTS = ['noexec', 'nosuid', 'nodev'];

async function isEmptyDir(path: string): Promise<boolean> {
  return (await readdir(path).catch(() => [])).length === 0;
}

function tmpfsOptions(mp: MountPoint): string[] {
  const user = mp.tmpfsOptions ?? [];
  const opposite: Record<string, string> = { exec: 'noexec', suid: 'nosuid', dev: 'nodev' };
  const defaults = TMPFS_DEFAULTS.filter((d) => !user.some((u) => opposite[u] === d));
  const out = [...defaults, ...user.filter((u) => u !== 'ro' && u !== 'rw')];
  out.push(mp.RW ? 'rw' : 'ro');
  return out;
}

export async function ociMountsFor(mounts: MountPoint[], rootfs: string, volumes: VolumeStore): Promise<OciMount[]> {
  // Parents before children, as moby sorts them, so a mount inside another lands on top of it.
  const ordered = [...mounts].sort((a, b) => a.Destination.split('/').length - b.Destination.split('/').length);
  const out: OciMount[] = [];
  for (const mp of ordered) {
    const { host, inside } = resolveInRoot(rootfs, mp.Destination, true);
    if (mp.Type === 'tmpfs') {
      await mkdir(host, { recursive: true });
      out.push({ destination: inside, type: 'tmpfs', source: 'tmpfs', options: tmpfsOptions(mp) });
      continue;
    }
    let source = mp.Source;
    if (mp.Type === 'volume' && mp.Name) {
      const v = volumes.find(mp.Name);
      if (!v) throw new Error(`get ${mp.Name}: no such volume`);
      source = await volumes.prepare(v);
      const image = await stat(host).catch(() => undefined);
      if (mp.copyImageData && image?.isDirectory() && (await isEmptyDir(source)) && !(await isEmptyDir(host))) {
        // cp -a keeps owners, modes, links and times, as docker's copy-up does.
        await execChecked('cp', ['-a', '--', `${host}/.`, `${source}/`]);
      }
    }
    const st = await stat(source);
    if (st.isDirectory()) await mkdir(host, { recursive: true });
    else {
      await mkdir(dirname(host), { recursive: true });
      if (!(await stat(host).catch(() => undefined))) await writeFile(host, '');
    }
    const propagation = mp.Propagation || 'rprivate';
    out.push({ destination: inside, type: 'bind', source, options: ['rbind', mp.RW ? 'rw' : 'ro', propagation] });
  }
  return out;
}
