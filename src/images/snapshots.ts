// Layer snapshots: <root>/snapshots/<chainIdHex>/diff, one overlayfs lower dir per layer chain.
//
// A snapshot is filled under <root>/snapshots/tmp-<random>/ and renamed to its real name only once
// complete (and synced), so a crash mid-unpack never leaves a half snapshot under a real name; stale
// tmp-* dirs are removed at open. Removal renames first for the same reason, then deletes.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { digestHex } from '../util/digest.js';
import { logger } from '../util/log.js';
import { fsyncDir } from '../store/content.js';
import { sysAddon } from '../runtime/sys.js';

const log = logger('snapshots');
const execFileAsync = promisify(execFile);

export interface SnapshotInfo {
  chainId: string;
  /** Unpacked bytes, as the fill reported it (undefined if it did not). */
  size?: number;
}

export interface PrepareResult extends SnapshotInfo {
  /** False when the snapshot already existed (or another prepare made it meanwhile). */
  created: boolean;
}

export interface SnapshotStoreOptions {
  /**
   * syncfs(2) the filesystem before publishing a snapshot, so a power loss cannot leave a snapshot
   * under its real name with empty files. Default true; tests may turn it off.
   */
  durable?: boolean;
}

const TMP_PREFIX = 'tmp-';

export class SnapshotStore {
  readonly dir: string;
  private readonly inFlight = new Map<string, Promise<PrepareResult>>();
  private readonly durable: boolean;

  constructor(root: string, options: SnapshotStoreOptions = {}) {
    this.dir = join(root, 'snapshots');
    this.durable = options.durable ?? true;
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // Each snapshot is a tree of its own: let ext4 place each in a block group of its own, away
    // from the inodes an rmi just freed (see markTopDir in native/sys.c). A hint; ignored elsewhere.
    sysAddon()?.markTopDir(this.dir);
  }

  /** Removes what crashed fills and removals left behind. Call once at open. */
  async init(): Promise<void> {
    for (const name of await fsp.readdir(this.dir)) {
      if (name.startsWith(TMP_PREFIX)) {
        log.info({ dir: name }, 'removing stale snapshot temp dir');
        await fsp.rm(join(this.dir, name), { recursive: true, force: true });
      }
    }
  }

  private snapshotDir(chainId: string): string {
    return join(this.dir, digestHex(chainId));
  }

  has(chainId: string): boolean {
    return fs.existsSync(this.snapshotDir(chainId));
  }

  /** The layer's diff dir (an overlay lowerdir); exists only once the snapshot is committed. */
  diffPath(chainId: string): string {
    return join(this.snapshotDir(chainId), 'diff');
  }

  async info(chainId: string): Promise<SnapshotInfo | undefined> {
    if (!this.has(chainId)) return undefined;
    try {
      const meta = JSON.parse(await fsp.readFile(join(this.snapshotDir(chainId), 'info.json'), 'utf8')) as { size?: number };
      return { chainId, size: meta.size };
    } catch {
      return { chainId };
    }
  }

  /**
   * Makes the snapshot for `chainId` unless it exists: `fill` unpacks into an empty dir, and may
   * return the unpacked size to keep with the snapshot. Concurrent prepares of one chain run `fill`
   * once; the others wait for it (and see its failure, if it fails: nothing is committed then).
   */
  prepare(chainId: string, fill: (diffDir: string) => Promise<void | { size?: number }>, opts: { sync?: boolean } = {}): Promise<PrepareResult> {
    digestHex(chainId);
    const running = this.inFlight.get(chainId);
    if (running) return running.then((r) => ({ ...r, created: false }));
    const p = this.doPrepare(chainId, fill, opts.sync ?? this.durable).finally(() => this.inFlight.delete(chainId));
    this.inFlight.set(chainId, p);
    return p;
  }

  private async doPrepare(chainId: string, fill: (diffDir: string) => Promise<void | { size?: number }>, durable: boolean): Promise<PrepareResult> {
    if (this.has(chainId)) return { ...(await this.info(chainId))!, created: false };
    const tmp = join(this.dir, `${TMP_PREFIX}${randomBytes(8).toString('hex')}`);
    await fsp.mkdir(join(tmp, 'diff'), { recursive: true, mode: 0o700 });
    try {
      // The diff dir is the container's "/" once mounted: 0755 unless the layer's "./" entry says otherwise.
      await fsp.chmod(join(tmp, 'diff'), 0o755);
      const filled = await fill(join(tmp, 'diff'));
      const size = filled && typeof filled.size === 'number' ? filled.size : undefined;
      await fsp.writeFile(join(tmp, 'info.json'), JSON.stringify({ chainId, size, createdAt: new Date().toISOString() }));
      if (durable) await syncfs(tmp);
      try {
        await fsp.rename(tmp, this.snapshotDir(chainId));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Another process (or a prepare we did not see) got there first: its copy is as good.
        if ((code === 'ENOTEMPTY' || code === 'EEXIST') && this.has(chainId)) {
          await fsp.rm(tmp, { recursive: true, force: true });
          return { chainId, size, created: false };
        }
        throw err;
      }
      if (durable) await fsyncDir(this.dir);
      return { chainId, size, created: true };
    } catch (err) {
      await fsp.rm(tmp, { recursive: true, force: true }).catch((e: unknown) => log.warn({ err: e, tmp }, 'cannot remove snapshot temp dir'));
      throw err;
    }
  }

  /**
   * Makes snapshots published with `sync: false` durable: one syncfs for all of them (a build syncs
   * once before its image is recorded instead of once per layer).
   */
  async sync(): Promise<void> {
    if (!this.durable) return;
    await syncfs(this.dir);
    await fsyncDir(this.dir);
  }

  /** Deletes a snapshot. The caller makes sure no container or image still uses it. */
  async remove(chainId: string): Promise<void> {
    const dir = this.snapshotDir(chainId);
    const trash = join(this.dir, `${TMP_PREFIX}rm-${randomBytes(8).toString('hex')}`);
    try {
      // Rename first: the snapshot disappears atomically; a crash mid-delete leaves only a tmp-* dir.
      await fsp.rename(dir, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await fsp.rm(trash, { recursive: true, force: true });
  }

  /** Chain IDs of all committed snapshots. */
  async list(): Promise<string[]> {
    const names = await fsp.readdir(this.dir);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }
}

/**
 * syncfs(2), through berth-sys or (addon not built) coreutils `sync -f`: one flush for all the
 * layer's files instead of one per file.
 */
async function syncfs(path: string): Promise<void> {
  try {
    const sys = sysAddon();
    if (sys) await sys.syncfsAsync(path);
    else await execFileAsync('sync', ['-f', path]);
  } catch (err) {
    log.warn({ err, path }, 'sync -f failed; snapshot published without a filesystem sync');
  }
}
