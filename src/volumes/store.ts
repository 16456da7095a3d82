// The local volume driver: `<data-root>/volumes/<name>/_data`, records in the metadata store,
// and the driver options type/device/o mounted on _data while a container uses the volume.
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { EventBus } from '../events/bus.js';
import { isMounted, unmount } from '../runtime/mounts.js';
import { execChecked } from '../runtime/exec.js';
import { sysAddon } from '../runtime/sys.js';
import type { MetadataStore } from '../store/metadata.js';
import { ConflictError, InvalidParameterError, NotFoundError, SystemError, errorMessage } from '../util/errors.js';
import { logger } from '../util/log.js';
import { treeSize } from '../util/tree-size.js';
import { ANONYMOUS_LABEL, VOLUME_NAME, type VolumeRecord } from './model.js';
import { mountFlags } from './mount-options.js';

const log = logger('volumes');

/** The local driver's options (moby volume/local validOpts) and which need which. */
const VALID_OPTIONS = ['type', 'device', 'o', 'size'];
const REQUIRED_WITH: Record<string, string[]> = { device: ['type'], type: ['device'], o: ['device'] };

export interface VolumeCreateOptions {
  name?: string;
  driver?: string;
  labels?: Record<string, string> | null;
  options?: Record<string, string> | null;
  /** Made for one container (VOLUME, `-v /path`): labelled so prune takes it. */
  anonymous?: boolean;
}

/** Who holds a volume: container IDs by volume name (running or not, as docker counts). */
export type VolumeUsers = () => Map<string, string[]>;

export class VolumeStore {
  private users: VolumeUsers = () => new Map();

  constructor(
    private readonly meta: MetadataStore,
    private readonly dataRoot: string,
    private readonly bus?: EventBus,
  ) {}

  setUsers(users: VolumeUsers): void {
    this.users = users;
  }

  get root(): string {
    return join(this.dataRoot, 'volumes');
  }

  mountpoint(name: string): string {
    return join(this.root, name, '_data');
  }

  list(): VolumeRecord[] {
    return this.meta.listVolumes<VolumeRecord>();
  }

  find(name: string): VolumeRecord | undefined {
    return this.meta.getVolumeJson<VolumeRecord>(name);
  }

  get(name: string): VolumeRecord {
    const v = this.find(name);
    if (!v) throw new NotFoundError(`get ${name}: no such volume`);
    return v;
  }

  usersOf(name: string): string[] {
    return this.users().get(name) ?? [];
  }

  /** docker's create: an existing volume of that name is returned as it is. */
  async create(o: VolumeCreateOptions): Promise<VolumeRecord> {
    const name = o.name || randomBytes(32).toString('hex');
    const driver = o.driver || 'local';
    if (driver !== 'local') throw new NotFoundError(`create ${name}: error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    const existing = this.find(name);
    if (existing) return existing;
    if (name.length === 1) throw new InvalidParameterError(`create ${name}: volume name is too short, names should be at least two alphanumeric characters`);
    if (!VOLUME_NAME.test(name)) {
      throw new InvalidParameterError(
        `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      );
    }
    const options = o.options && Object.keys(o.options).length > 0 ? o.options : null;
    if (options) validateOptions(name, options);
    const labels = o.anonymous ? { ...(o.labels ?? {}), [ANONYMOUS_LABEL]: '' } : (o.labels ?? null);
    const record: VolumeRecord = {
      name,
      driver: 'local',
      labels,
      options: o.options ?? null,
      createdAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    };
    await mkdir(this.mountpoint(name), { recursive: true, mode: 0o755 });
    try {
      this.meta.insertVolume(name, record);
    } catch (err) {
      // Two creates of one name at once: the other one won, and its volume is the answer.
      const winner = this.find(name);
      if (winner) return winner;
      throw err;
    }
    log.debug({ name }, 'volume created');
    this.bus?.emit('volume', 'create', { ID: name, Attributes: { driver: 'local' } });
    return record;
  }

  /** docker's remove: refused while a container refers to it, unless forced. */
  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    const v = this.find(name);
    if (!v) {
      if (opts.force) return;
      throw new NotFoundError(`get ${name}: no such volume`);
    }
    const users = this.usersOf(name);
    if (users.length > 0) throw new ConflictError(`remove ${name}: volume is in use - [${users.join(', ')}]`);
    await unmount(this.mountpoint(name)).catch((err) => log.warn({ err, name }, 'volume unmount failed'));
    // Never delete through a mount: with o=bind that would empty the user's own directory.
    if (await isMounted(this.mountpoint(name))) throw new SystemError(`remove ${name}: volume is still mounted at ${this.mountpoint(name)}`);
    this.meta.deleteVolume(name);
    await rm(join(this.root, name), { recursive: true, force: true });
    log.debug({ name }, 'volume removed');
    this.bus?.emit('volume', 'destroy', { ID: name, Attributes: { driver: 'local' } });
  }

  /** Volumes no container refers to that `keep` accepts; removed, with the bytes they held. */
  async prune(keep: (v: VolumeRecord) => boolean): Promise<{ deleted: string[]; reclaimed: number }> {
    const used = this.users();
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const v of this.list()) {
      if ((used.get(v.name)?.length ?? 0) > 0 || !keep(v)) continue;
      const size = await this.size(v.name);
      try {
        await this.remove(v.name);
        deleted.push(v.name);
        reclaimed += size;
      } catch (err) {
        log.warn({ err, name: v.name }, 'prune: volume not removed');
      }
    }
    this.bus?.emit('volume', 'prune', { ID: '', Attributes: { reclaimed: String(reclaimed) } });
    return { deleted, reclaimed };
  }

  /** Bytes of the files in the volume (docker's UsageData.Size). */
  async size(name: string): Promise<number> {
    return treeSize(this.mountpoint(name));
  }

  /** Mount the driver options' filesystem on _data before a container uses it (moby localVolume.mount). */
  async prepare(v: VolumeRecord): Promise<string> {
    const target = this.mountpoint(v.name);
    await mkdir(target, { recursive: true });
    const o = v.options;
    if (!o || (!o.type && !o.device)) return target;
    if (await isMounted(target)) return target;
    const { flags, data } = mountFlags(o.o ?? '');
    const type = o.type === 'none' ? null : o.type;
    try {
      const sys = sysAddon();
      if (sys) await sys.mountAsync(o.device, target, type ?? null, flags, data || null);
      else await execChecked('mount', ['-t', o.type, '-o', o.o ?? 'defaults', o.device, target]);
    } catch (err) {
      throw new SystemError(`error while mounting volume '${target}': failed to mount local volume: mount ${o.device}:${target}, flags: 0x${flags.toString(16)}, data: ${data}: ${errorMessage(err)}`);
    }
    return target;
  }
}

function validateOptions(name: string, options: Record<string, string>): void {
  for (const key of Object.keys(options)) {
    if (!VALID_OPTIONS.includes(key)) throw new InvalidParameterError(`create ${name}: invalid option: "${key}"`);
  }
  if (options.size) throw new InvalidParameterError(`create ${name}: quota size requested but no quota support`);
  for (const [key, needs] of Object.entries(REQUIRED_WITH)) {
    if (!(key in options)) continue;
    for (const n of needs) if (!(n in options)) throw new InvalidParameterError(`create ${name}: missing required option: "${n}"`);
  }
  mountFlags(options.o ?? '');
}
