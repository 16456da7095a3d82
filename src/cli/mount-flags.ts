// run/create's -v, --mount, --tmpfs and --volumes-from as the docker CLI turns them into the
// create body: -v with a source goes to HostConfig.Binds (a ./relative host path made absolute),
// -v with a path alone to Config.Volumes; --mount's CSV to HostConfig.Mounts.
import { resolve } from 'node:path';
import type { FlagDef } from './flags.js';

export const MOUNT_FLAGS: FlagDef[] = [
  { long: 'mount', type: 'list', valueName: 'mount', description: 'Attach a filesystem mount to the container' },
  { long: 'tmpfs', type: 'list', description: 'Mount a tmpfs directory' },
  { long: 'volume', short: 'v', type: 'list', description: 'Bind mount a volume' },
  { long: 'volumes-from', type: 'list', description: 'Mount volumes from the specified container(s)' },
];

export interface MountFlagOptions {
  volume?: string[];
  mount?: string[];
  tmpfs?: string[];
  volumesFrom?: string[];
}

function mountError(value: string, message: string): Error {
  return new Error(`invalid argument "${value}" for "--mount" flag: ${message}`);
}

function parseBoolValue(value: string, raw: string, key: string): boolean {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  throw mountError(raw, `invalid value for ${key}: ${value}`);
}

/** One --mount value (docker cli opts.MountOpt.Set). */
export function parseMountFlag(raw: string): Record<string, unknown> {
  const m: Record<string, unknown> = { Type: 'volume' };
  const bind: Record<string, unknown> = {};
  const volume: Record<string, unknown> = {};
  const tmpfs: Record<string, unknown> = {};
  const labels: Record<string, string> = {};
  const driverOpts: Record<string, string> = {};
  let driver: string | undefined;
  for (const field of raw.split(',').filter(Boolean)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    if (value === undefined && !['readonly', 'ro', 'volume-nocopy', 'bind-nonrecursive'].includes(key)) throw mountError(raw, `invalid field '${field}' must be a key=value pair`);
    switch (key) {
      case 'type':
        m.Type = value!.toLowerCase();
        break;
      case 'source':
      case 'src':
        m.Source = value;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.Target = value;
        break;
      case 'readonly':
      case 'ro':
        m.ReadOnly = value === undefined ? true : parseBoolValue(value, raw, key);
        break;
      case 'consistency':
        m.Consistency = value;
        break;
      case 'bind-propagation':
        bind.Propagation = value;
        break;
      case 'bind-create-host-path':
        bind.CreateMountpoint = parseBoolValue(value!, raw, key);
        break;
      case 'volume-nocopy':
        volume.NoCopy = value === undefined ? true : parseBoolValue(value, raw, key);
        break;
      case 'volume-label': {
        const [k, ...v] = value!.split('=');
        labels[k] = v.join('=');
        break;
      }
      case 'volume-driver':
        driver = value;
        break;
      case 'volume-opt': {
        const [k, ...v] = value!.split('=');
        driverOpts[k] = v.join('=');
        break;
      }
      case 'tmpfs-size': {
        const size = parseSize(value!);
        if (size === undefined) throw mountError(raw, `invalid value for ${key}: ${value}`);
        tmpfs.SizeBytes = size;
        break;
      }
      case 'tmpfs-mode': {
        if (!/^[0-7]+$/.test(value!)) throw mountError(raw, `invalid value for ${key}: ${value}`);
        tmpfs.Mode = parseInt(value!, 8);
        break;
      }
      default:
        throw mountError(raw, `unexpected key '${key}' in '${field}'`);
    }
  }
  if (!m.Target) throw mountError(raw, 'target is required');
  if (Object.keys(bind).length) m.BindOptions = bind;
  if (Object.keys(labels).length || Object.keys(driverOpts).length || driver || volume.NoCopy !== undefined) {
    m.VolumeOptions = { ...volume, ...(Object.keys(labels).length ? { Labels: labels } : {}), ...(driver || Object.keys(driverOpts).length ? { DriverConfig: { Name: driver ?? '', Options: driverOpts } } : {}) };
  }
  if (Object.keys(tmpfs).length) m.TmpfsOptions = tmpfs;
  if (m.Type === 'bind' && m.VolumeOptions) throw mountError(raw, 'cannot mix \'volume-*\' options with mount type \'bind\'');
  if (m.Type === 'volume' && m.BindOptions) throw mountError(raw, 'cannot mix \'bind-*\' options with mount type \'volume\'');
  return m;
}

/** go-units RAMInBytes: "64m", "1g", "512k", bytes. */
function parseSize(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(v);
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2].toLowerCase()] ?? 1;
  return Math.floor(Number(m[1]) * mult);
}

/** The parts of the create body these flags fill: Config.Volumes and HostConfig's Binds, Mounts, Tmpfs, VolumesFrom. */
export function mountsFromFlags(o: MountFlagOptions): { volumes: Record<string, object>; hostConfig: Record<string, unknown> } {
  const binds: string[] = [];
  const volumes: Record<string, object> = {};
  for (const v of o.volume ?? []) {
    // The docker CLI's own check (loader.ParseVolume) before anything reaches the daemon.
    if (v.split(':').length > 3) throw new Error(`invalid spec: ${v}: too many colons`);
    if (!v.includes(':')) {
      volumes[v] = {};
      continue;
    }
    // docker turns a ./relative host path into an absolute one; other relative names are volume names.
    const i = v.indexOf(':');
    const host = v.slice(0, i);
    binds.push(host.startsWith('.') ? `${resolve(host)}${v.slice(i)}` : v);
  }
  const tmpfs: Record<string, string> = {};
  for (const t of o.tmpfs ?? []) {
    const i = t.indexOf(':');
    tmpfs[i < 0 ? t : t.slice(0, i)] = i < 0 ? '' : t.slice(i + 1);
  }
  const mounts = (o.mount ?? []).map(parseMountFlag);
  const hostConfig: Record<string, unknown> = { Binds: binds.length ? binds : null };
  if (mounts.length) hostConfig.Mounts = mounts;
  if (Object.keys(tmpfs).length) hostConfig.Tmpfs = tmpfs;
  if (o.volumesFrom?.length) hostConfig.VolumesFrom = o.volumesFrom;
  return { volumes, hostConfig };
}
