// A container's mounts from its create request, as dockerd registers them (registerMountPoints):
// --volumes-from first, then HostConfig.Binds and HostConfig.Mounts (which win over them), then
// an anonymous volume for every VOLUME of the image (or `-v /path`) nothing else covers.
// HostConfig.Tmpfs is kept apart: docker does not list those mounts under Mounts.
import { mkdir, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { InvalidParameterError, NotFoundError } from '../util/errors.js';
import type { MountPoint, VolumeRecord } from './model.js';
import type { VolumeStore } from './store.js';

const PROPAGATIONS = ['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate'];
const CONSISTENCIES = ['consistent', 'cached', 'delegated'];

/** HostConfig.Mounts entry (API mount.Mount). */
export interface ApiMount {
  Type?: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
  Consistency?: string;
  BindOptions?: { Propagation?: string; CreateMountpoint?: boolean; NonRecursive?: boolean } | null;
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string> | null; DriverConfig?: { Name?: string; Options?: Record<string, string> | null } | null; Subpath?: string } | null;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number; Options?: string[][] | null } | null;
}

export interface MountSources {
  binds?: string[] | null;
  mounts?: ApiMount[] | null;
  volumesFrom?: string[] | null;
  /** Config.Volumes as recorded (the image's VOLUMEs merged with the request's). */
  imageVolumes?: Record<string, unknown> | null;
  /** Mount points of a container by name or ID, for --volumes-from. */
  containerMounts: (idOrName: string) => MountPoint[] | undefined;
}

interface ParsedMode {
  ro: boolean;
  propagation?: string;
  nocopy: boolean;
}

/** moby's ValidMountMode: each part at most once per kind. */
function parseMode(mode: string): ParsedMode | undefined {
  const out: ParsedMode = { ro: false, nocopy: false };
  const seen = new Set<string>();
  for (const part of mode.split(',')) {
    const kind = part === 'rw' || part === 'ro' ? 'rw' : part === 'z' || part === 'Z' ? 'label' : PROPAGATIONS.includes(part) ? 'propagation' : part === 'nocopy' ? 'copy' : CONSISTENCIES.includes(part) ? 'consistency' : undefined;
    if (!kind || seen.has(kind)) return undefined;
    seen.add(kind);
    if (part === 'ro') out.ro = true;
    if (kind === 'propagation') out.propagation = part;
    if (part === 'nocopy') out.nocopy = true;
  }
  return out;
}

function invalidSpec(raw: string): InvalidParameterError {
  return new InvalidParameterError(`invalid volume specification: '${raw}'`);
}

function checkTarget(type: string, target: string, raw?: string): void {
  if (!target.startsWith('/')) {
    const inner = `invalid mount config for type "${type}": invalid mount path: '${target}' mount path must be absolute`;
    throw new InvalidParameterError(raw ? `invalid volume specification: '${raw}': ${inner}` : inner);
  }
  if (posix.normalize(target) === '/') throw new InvalidParameterError(raw ? `invalid volume specification: '${raw}': invalid mount config for type "${type}": invalid specification: destination can't be '/'` : `invalid mount config for type "${type}": invalid specification: destination can't be '/'`);
}

/** Creates volumes for one container's mounts, remembering which are new so a failed create can take them back. */
class VolumeMaker {
  readonly created: string[] = [];
  constructor(readonly store: VolumeStore) {}

  async make(o: Parameters<VolumeStore['create']>[0]): Promise<VolumeRecord> {
    const existed = o.name ? this.store.find(o.name) : undefined;
    if (existed) return existed;
    const v = await this.store.create(o);
    this.created.push(v.name);
    return v;
  }

  mountpoint(name: string): string {
    return this.store.mountpoint(name);
  }

  /** Remove what this maker created (the container that was to use them was not made). */
  async rollback(): Promise<void> {
    for (const name of this.created.splice(0)) await this.store.remove(name, { force: true }).catch(() => undefined);
  }
}

/** One `-v` / Binds entry (moby linuxParser.ParseMountRaw). */
async function parseBind(raw: string, volumes: VolumeMaker): Promise<MountPoint> {
  const arr = raw.split(':');
  if (arr.length > 3 || arr[0] === '') throw invalidSpec(raw);
  let source = '';
  let target: string;
  let mode = '';
  if (arr.length === 1) target = arr[0];
  else if (arr.length === 2) {
    if (parseMode(arr[1])) throw invalidSpec(raw);
    [source, target] = arr;
  } else [source, target, mode] = arr;
  const parsed = mode ? parseMode(mode) : { ro: false, nocopy: false };
  if (!parsed) throw new InvalidParameterError(`invalid mode: ${mode}`);
  const isBind = source.startsWith('/');
  checkTarget(isBind ? 'bind' : 'volume', target, raw);
  target = posix.normalize(target);
  if (isBind) {
    // -v creates a missing host directory (docker keeps this for compatibility; --mount does not).
    await mkdir(source, { recursive: true });
    return { Type: 'bind', Source: posix.normalize(source), Destination: target, Mode: mode, RW: !parsed.ro, Propagation: parsed.propagation ?? 'rprivate' };
  }
  if (parsed.propagation) throw new InvalidParameterError(`invalid volume specification: '${raw}': invalid mount config for type "volume": propagation is not supported for volumes`);
  const v = await volumes.make({ name: source || undefined, anonymous: !source });
  return {
    Type: 'volume',
    Name: v.name,
    Source: volumes.mountpoint(v.name),
    Destination: target,
    Driver: 'local',
    Mode: source ? mode || 'z' : mode,
    RW: !parsed.ro,
    Propagation: '',
    copyImageData: !parsed.nocopy,
    anonymous: !source,
  };
}

/** One HostConfig.Mounts entry (moby mounts.validateMountConfig + parseMountSpec). */
async function parseApiMount(m: ApiMount, volumes: VolumeMaker): Promise<MountPoint> {
  const type = m.Type ?? '';
  const bad = (msg: string) => new InvalidParameterError(`invalid mount config for type "${type}": ${msg}`);
  if (!['bind', 'volume', 'tmpfs'].includes(type)) throw bad('mount type unknown');
  if (!m.Target) throw bad('field Target must not be empty');
  checkTarget(type, m.Target);
  const target = posix.normalize(m.Target);
  const ro = m.ReadOnly ?? false;
  if (type !== 'bind' && m.BindOptions) throw bad(`field BindOptions must not be specified`);
  if (type !== 'volume' && m.VolumeOptions) throw bad(`field VolumeOptions must not be specified`);
  if (type !== 'tmpfs' && m.TmpfsOptions) throw bad(`field TmpfsOptions must not be specified`);
  if (type === 'bind') {
    if (!m.Source) throw bad('field Source must not be empty');
    if (!m.Source.startsWith('/')) throw bad(`invalid mount path: '${m.Source}' mount path must be absolute`);
    const st = await stat(m.Source).catch(() => undefined);
    if (!st) {
      if (!m.BindOptions?.CreateMountpoint) throw bad(`bind source path does not exist: ${m.Source}`);
      await mkdir(m.Source, { recursive: true });
    }
    const propagation = m.BindOptions?.Propagation || 'rprivate';
    if (!PROPAGATIONS.includes(propagation)) throw bad(`invalid propagation mode: ${propagation}`);
    return { Type: 'bind', Source: posix.normalize(m.Source), Destination: target, Mode: '', RW: !ro, Propagation: propagation };
  }
  if (type === 'tmpfs') {
    if (m.Source) throw bad('field Source must not be specified');
    const o = m.TmpfsOptions ?? {};
    const options: string[] = [];
    if (o.SizeBytes !== undefined && o.SizeBytes < 0) throw bad(`invalid tmpfs size: ${o.SizeBytes}`);
    if (o.SizeBytes) options.push(`size=${Math.ceil(o.SizeBytes / 1024)}k`);
    if (o.Mode) options.push(`mode=${o.Mode.toString(8)}`);
    for (const pair of o.Options ?? []) options.push(pair.length > 1 ? `${pair[0]}=${pair[1]}` : pair[0]);
    return { Type: 'tmpfs', Source: '', Destination: target, Mode: '', RW: !ro, Propagation: '', tmpfsOptions: options };
  }
  const driver = m.VolumeOptions?.DriverConfig?.Name;
  const v = await volumes.make({
    name: m.Source || undefined,
    anonymous: !m.Source,
    driver,
    labels: m.VolumeOptions?.Labels ?? null,
    options: m.VolumeOptions?.DriverConfig?.Options ?? null,
  });
  return {
    Type: 'volume',
    Name: v.name,
    Source: volumes.mountpoint(v.name),
    Destination: target,
    Driver: 'local',
    Mode: 'z',
    RW: !ro,
    Propagation: '',
    copyImageData: !(m.VolumeOptions?.NoCopy ?? false),
    anonymous: !m.Source,
  };
}

/**
 * The mount points to record for a new container, volumes created as needed. On error the
 * volumes made here are removed again; `rollback` does the same when the container is not made.
 */
export async function containerMountPoints(src: MountSources, store: VolumeStore): Promise<{ mounts: MountPoint[]; rollback: () => Promise<void> }> {
  const volumes = new VolumeMaker(store);
  try {
    return { mounts: await collectMountPoints(src, volumes), rollback: () => volumes.rollback() };
  } catch (err) {
    await volumes.rollback();
    throw err;
  }
}

async function collectMountPoints(src: MountSources, volumes: VolumeMaker): Promise<MountPoint[]> {
  const byDest = new Map<string, MountPoint>();
  for (const spec of src.volumesFrom ?? []) {
    const [name, mode, ...extra] = spec.split(':');
    if (extra.length > 0 || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) throw new InvalidParameterError(`invalid mode for volumes-from: ${spec}`);
    const theirs = src.containerMounts(name);
    if (!theirs) throw new NotFoundError(`No such container: ${name}`);
    for (const mp of theirs) {
      if (mp.hidden) continue;
      // Shared, not theirs alone: removing this container must never take them.
      byDest.set(mp.Destination, { ...mp, RW: mode === undefined ? mp.RW : mode === 'rw', anonymous: false, copyImageData: false });
    }
  }
  const explicit = new Set<string>();
  const add = (mp: MountPoint) => {
    if (explicit.has(mp.Destination)) throw new InvalidParameterError(`Duplicate mount point: ${mp.Destination}`);
    explicit.add(mp.Destination);
    byDest.set(mp.Destination, mp);
  };
  for (const raw of src.binds ?? []) add(await parseBind(raw, volumes));
  for (const m of src.mounts ?? []) add(await parseApiMount(m, volumes));
  for (const dest of Object.keys(src.imageVolumes ?? {})) {
    const target = posix.normalize(dest);
    if (byDest.has(target) || !target.startsWith('/')) continue;
    const v = await volumes.make({ anonymous: true });
    byDest.set(target, {
      Type: 'volume',
      Name: v.name,
      Source: volumes.mountpoint(v.name),
      Destination: target,
      Driver: 'local',
      Mode: '',
      RW: true,
      Propagation: '',
      copyImageData: true,
      anonymous: true,
    });
  }
  return [...byDest.values()];
}

/** HostConfig.Tmpfs ({"/run": "size=64m"}) as mount points start turns into tmpfs mounts. */
export function tmpfsMountPoints(tmpfs: Record<string, string> | null | undefined): MountPoint[] {
  return Object.entries(tmpfs ?? {}).map(([dest, opts]) => {
    checkTarget('tmpfs', dest);
    const options = opts ? opts.split(',').filter(Boolean) : [];
    return { Type: 'tmpfs', Source: '', Destination: posix.normalize(dest), Mode: '', RW: !options.includes('ro'), Propagation: '', tmpfsOptions: options, hidden: true };
  });
}

/** The Mounts docker's inspect shows (no berth-only fields). */
export function inspectMounts(mounts: MountPoint[] | undefined): Array<Record<string, unknown>> {
  return (mounts ?? [])
    .filter((m) => !m.hidden)
    .map((m) =>
      m.Type === 'volume'
        ? { Type: m.Type, Name: m.Name, Source: m.Source, Destination: m.Destination, Driver: m.Driver, Mode: m.Mode, RW: m.RW, Propagation: m.Propagation }
        : { Type: m.Type, Source: m.Source, Destination: m.Destination, Mode: m.Mode, RW: m.RW, Propagation: m.Propagation },
    );
}
