// Image metadata on top of the content store and snapshots: names → IDs, docker's JSON shapes,
// and deletion that frees only what nothing else refers to.
import type { ContentStore } from '../store/content.js';
import type { ImageRecord, MetadataStore } from '../store/metadata.js';
import { ConflictError, InvalidParameterError, NotFoundError } from '../util/errors.js';
import { canonicalString, familiarString, parseReference } from '../registry/reference.js';
import type { ImageReference } from '../registry/types.js';
import type { ImageConfig } from './oci.js';
import type { SnapshotStore } from './snapshots.js';
import { isDigest } from '../util/digest.js';
import { versionBefore } from '../util/version.js';

export interface StoredImage {
  record: ImageRecord;
  config: ImageConfig;
}

/** Users of images (containers) are asked before an image or its layers go. */
export interface ImageUsers {
  containersUsing(imageId: string): Array<{ id: string; running: boolean }>;
  chainIdsInUse(): Set<string>;
}

export type DeleteResult = Array<{ Untagged: string } | { Deleted: string }>;

const HEX_PREFIX = /^[a-f0-9]{1,64}$/;

export class ImageStore {
  private users: ImageUsers = { containersUsing: () => [], chainIdsInUse: () => new Set() };
  private readonly configCache = new Map<string, ImageConfig>();
  private readonly held = new Set<{ blobs: Set<string>; snapshots: Set<string> }>();

  constructor(
    private readonly meta: MetadataStore,
    private readonly content: ContentStore,
    private readonly snapshots: SnapshotStore,
  ) {}

  /**
   * Keeps what an operation in progress (load, import, commit) made from garbage collection until
   * its image is recorded. Returns the release function.
   */
  hold(refs: { blobs: Set<string>; snapshots: Set<string> }): () => void {
    this.held.add(refs);
    return () => this.held.delete(refs);
  }

  setUsers(users: ImageUsers): void {
    this.users = users;
  }

  private readonly gcRoots: Array<() => { chainIds: string[]; blobs: string[] }> = [];

  /** Extra snapshots and blobs garbage collection must keep (the build cache's layers). */
  addGcRoot(roots: () => { chainIds: string[]; blobs: string[] }): void {
    this.gcRoots.push(roots);
  }

  /** Record a pulled image and point its tag (and digest) at it. Returns the image ID. */
  add(record: ImageRecord, ref?: ImageReference): void {
    this.meta.transaction(() => {
      const existing = this.meta.getImage(record.id);
      const repoDigests = new Set([...(existing?.repoDigests ?? []), ...record.repoDigests]);
      this.meta.putImage({ ...record, repoDigests: [...repoDigests], addedAt: existing?.addedAt ?? record.addedAt });
      if (ref?.tag) this.meta.setTag(canonicalString({ domain: ref.domain, path: ref.path, tag: ref.tag }), record.id);
    });
  }

  /** Docker's lookup order: full ID, then a name (tag or digest), then an unambiguous ID prefix. */
  resolve(nameOrId: string): StoredImage | undefined {
    const id = this.resolveId(nameOrId);
    if (!id) return undefined;
    const record = this.meta.getImage(id);
    return record ? { record, config: this.config(id) } : undefined;
  }

  get(nameOrId: string): StoredImage {
    const image = this.resolve(nameOrId);
    if (!image) throw new NotFoundError(`No such image: ${nameOrId}`);
    return image;
  }

  resolveId(nameOrId: string): string | undefined {
    if (isDigest(nameOrId)) return this.meta.getImage(nameOrId) ? nameOrId : undefined;
    let ref: ImageReference | undefined;
    try {
      ref = parseReference(nameOrId);
    } catch {
      ref = undefined;
    }
    if (ref) {
      if (ref.digest) {
        const repo = canonicalString({ domain: ref.domain, path: ref.path });
        const hit = this.meta.listImages().find((img) => img.repoDigests.includes(`${repo}@${ref!.digest}`));
        if (hit) return hit.id;
      } else {
        const id = this.meta.getTag(canonicalString(ref));
        if (id) return id;
      }
    }
    const hex = nameOrId.startsWith('sha256:') ? nameOrId.slice(7) : nameOrId;
    if (HEX_PREFIX.test(hex)) {
      const ids = this.meta.findImagesByPrefix(hex);
      if (ids.length === 1) return ids[0];
    }
    return undefined;
  }

  config(id: string): ImageConfig {
    let config = this.configCache.get(id);
    if (!config) {
      config = JSON.parse(this.content.readBuffer(id).toString('utf8')) as ImageConfig;
      this.configCache.set(id, config);
    }
    return config;
  }

  list(): StoredImage[] {
    return this.meta.listImages().map((record) => ({ record, config: this.config(record.id) }));
  }

  /** Canonical tag names of an image ("docker.io/library/busybox:latest"). */
  tagNames(id: string): string[] {
    return this.meta.tagsOf(id);
  }

  repoTags(id: string): string[] {
    return this.meta.tagsOf(id).map((name) => familiarString(parseReference(name)));
  }

  repoDigests(record: ImageRecord): string[] {
    return record.repoDigests.map((d) => {
      const at = d.lastIndexOf('@');
      return familiarString({ ...parseReference(d.slice(0, at)), tag: undefined, digest: d.slice(at + 1) });
    });
  }

  /** GET /images/json entry. */
  summary(image: StoredImage, version: string): Record<string, unknown> {
    const { record, config } = image;
    const out: Record<string, unknown> = {
      Id: record.id,
      ParentId: record.parent ?? '',
      RepoTags: this.repoTags(record.id),
      RepoDigests: this.repoDigests(record),
      Created: Math.floor(Date.parse(record.created || '1970-01-01T00:00:00Z') / 1000),
      Size: record.size,
      SharedSize: -1,
      Labels: config.config?.Labels ?? null,
      Containers: -1,
    };
    if (versionBefore(version, '1.44')) out.VirtualSize = record.size;
    return out;
  }

  /** GET /images/{name}/json. */
  inspect(image: StoredImage, version: string): Record<string, unknown> {
    const { record, config } = image;
    const c = config.config ?? {};
    const out: Record<string, unknown> = {
      Id: record.id,
      RepoTags: this.repoTags(record.id),
      RepoDigests: this.repoDigests(record),
      Parent: record.parent ?? '',
      Comment: (config as { comment?: string }).comment ?? config.history?.[config.history.length - 1]?.comment ?? '',
      Created: record.created || '0001-01-01T00:00:00Z',
      DockerVersion: '',
      Author: config.author ?? '',
      Config: {
        Hostname: '',
        Domainname: '',
        User: c.User ?? '',
        AttachStdin: false,
        AttachStdout: false,
        AttachStderr: false,
        ExposedPorts: c.ExposedPorts,
        Tty: false,
        OpenStdin: false,
        StdinOnce: false,
        Env: c.Env ?? null,
        Cmd: c.Cmd ?? null,
        Healthcheck: c.Healthcheck,
        Image: '',
        Volumes: c.Volumes ?? null,
        WorkingDir: c.WorkingDir ?? '',
        Entrypoint: c.Entrypoint ?? null,
        OnBuild: c.OnBuild ?? null,
        Labels: c.Labels ?? null,
        StopSignal: c.StopSignal,
        Shell: c.Shell,
      },
      Architecture: config.architecture,
      Variant: config.variant,
      Os: config.os,
      Size: record.size,
      GraphDriver: this.graphDriver(record),
      RootFS: { Type: 'layers', Layers: record.diffIds },
      Metadata: { LastTagTime: new Date(record.addedAt).toISOString() },
    };
    if (versionBefore(version, '1.44')) out.VirtualSize = record.size;
    return out;
  }

  /**
   * DELETE /images/{name}: untag by name; delete the image when its last tag goes (or when asked by
   * ID); refuse while a container uses it, as docker does.
   */
  async delete(nameOrId: string, force: boolean): Promise<DeleteResult> {
    const id = this.resolveId(nameOrId);
    if (!id) throw new NotFoundError(`No such image: ${nameOrId}`);
    const record = this.meta.getImage(id)!;
    const tags = this.meta.tagsOf(id);
    const byName = this.namedTag(nameOrId, tags);
    const result: DeleteResult = [];
    const users = this.users.containersUsing(id);

    if (byName && tags.length > 1) {
      // One of several names: untag only.
      this.meta.deleteTag(byName);
      result.push({ Untagged: familiarString(parseReference(byName)) });
      return result;
    }
    if (!byName && tags.length > 1 && !force) {
      throw new ConflictError(`conflict: unable to delete ${shortId(id)} (must be forced) - image is referenced in multiple repositories`);
    }
    const running = users.find((u) => u.running);
    if (running) {
      throw new ConflictError(`conflict: unable to delete ${shortId(id)} (cannot be forced) - image is being used by running container ${shortId(running.id)}`);
    }
    if (users.length > 0 && !force) {
      if (byName) {
        throw new ConflictError(`conflict: unable to remove repository reference "${nameOrId}" (must force) - container ${shortId(users[0].id)} is using its referenced image ${shortId(id)}`);
      }
      throw new ConflictError(`conflict: unable to delete ${shortId(id)} (must be forced) - image is being used by stopped container ${shortId(users[0].id)}`);
    }
    this.meta.transaction(() => {
      for (const tag of tags) {
        this.meta.deleteTag(tag);
        result.push({ Untagged: familiarString(parseReference(tag)) });
      }
      for (const digest of record.repoDigests) result.push({ Untagged: this.repoDigests({ ...record, repoDigests: [digest] })[0] });
      this.meta.deleteImage(id);
    });
    result.push({ Deleted: id });
    this.configCache.delete(id);
    for (const chainId of await this.collectGarbage()) result.push({ Deleted: chainId });
    return result;
  }

  /** Blobs and snapshots that some image or container refers to: what GC and rollbacks keep. */
  liveRefs(): { blobs: Set<string>; chains: Set<string> } {
    const images = this.meta.listImages();
    const liveChains = this.users.chainIdsInUse();
    const liveBlobs = new Set<string>();
    for (const root of this.gcRoots) {
      const r = root();
      r.chainIds.forEach((c) => liveChains.add(c));
      r.blobs.forEach((b) => liveBlobs.add(b));
    }
    for (const held of this.held) {
      held.blobs.forEach((b) => liveBlobs.add(b));
      held.snapshots.forEach((c) => liveChains.add(c));
    }
    for (const img of images) {
      img.chainIds.forEach((c) => liveChains.add(c));
      liveBlobs.add(img.id);
      liveBlobs.add(img.manifestDigest);
      for (const d of img.repoDigests) liveBlobs.add(d.slice(d.lastIndexOf('@') + 1));
      try {
        const manifest = JSON.parse(this.content.readBuffer(img.manifestDigest).toString('utf8')) as { layers?: Array<{ digest: string }> };
        manifest.layers?.forEach((l) => liveBlobs.add(l.digest));
      } catch {
        // A missing manifest blob only means nothing more to keep for this image.
      }
    }
    return { blobs: liveBlobs, chains: liveChains };
  }

  /** Remove snapshots and blobs that no image or container refers to any more. */
  async collectGarbage(): Promise<string[]> {
    const { blobs: liveBlobs, chains: liveChains } = this.liveRefs();
    const removed: string[] = [];
    for (const chainId of await this.snapshots.list()) {
      if (!liveChains.has(chainId)) {
        await this.snapshots.remove(chainId);
        removed.push(chainId);
      }
    }
    for (const digest of await this.content.list()) {
      if (!liveBlobs.has(digest)) await this.content.delete(digest);
    }
    return removed;
  }

  /** docker's overlay2 GraphDriver: the top layer as UpperDir, the others (top first) as LowerDir. */
  private graphDriver(record: ImageRecord): { Name: string; Data: Record<string, string> | null } {
    const dirs = record.chainIds.slice().reverse().map((id) => this.snapshots.diffPath(id));
    if (dirs.length === 0) return { Name: 'overlay2', Data: null };
    const data: Record<string, string> = { UpperDir: dirs[0] };
    if (dirs.length > 1) data.LowerDir = dirs.slice(1).join(':');
    return { Name: 'overlay2', Data: data };
  }

  /** POST /images/{name}/tag: point `target` (a reference with or without tag) at the image. */
  tag(source: string, target: string): void {
    const id = this.resolveId(source);
    if (!id) throw new NotFoundError(`No such image: ${source}`);
    const ref = parseReference(target);
    if (ref.digest) throw new InvalidParameterError('refusing to create a tag with a digest reference');
    const tag = ref.tag ?? 'latest';
    this.meta.setTag(canonicalString({ domain: ref.domain, path: ref.path, tag }), id);
  }

  /** Images with neither a tag nor a digest: docker's dangling `<none>:<none>`. */
  isDangling(record: ImageRecord): boolean {
    return this.meta.tagsOf(record.id).length === 0 && record.repoDigests.length === 0;
  }

  /** GET /images/{name}/history: newest first, docker's shape. */
  async history(nameOrId: string): Promise<Array<Record<string, unknown>>> {
    const { record, config } = this.get(nameOrId);
    const sizes = await Promise.all(record.chainIds.map(async (c) => (await this.snapshots.info(c))?.size ?? 0));
    let entries = config.history ?? [];
    if (entries.length === 0) entries = record.diffIds.map(() => ({ created: config.created }));
    const out: Array<Record<string, unknown>> = [];
    let layer = 0;
    for (const h of entries) {
      const size = h.empty_layer ? 0 : (sizes[layer++] ?? 0);
      out.push({
        Id: '<missing>',
        Created: Math.floor(Date.parse(h.created || '1970-01-01T00:00:00Z') / 1000) || 0,
        CreatedBy: h.created_by ?? '',
        Tags: null,
        Size: size,
        Comment: h.comment ?? '',
      });
    }
    out.reverse();
    if (out.length > 0) {
      out[0].Id = record.id;
      const tags = this.repoTags(record.id);
      out[0].Tags = tags.length > 0 ? tags : null;
    }
    return out;
  }

  /** Unpacked bytes of the snapshots of the given chains (as recorded when they were made). */
  async chainSizes(chainIds: Iterable<string>): Promise<number> {
    let total = 0;
    for (const c of chainIds) total += (await this.snapshots.info(c))?.size ?? 0;
    return total;
  }

  /**
   * POST /images/prune: images no container uses that are dangling (or, with `all`, any such
   * image); `keep` vetoes an image (docker's until/label filters). Reclaimed space counts the
   * snapshots that actually went away.
   */
  async prune(opts: { all: boolean; keep?: (image: StoredImage) => boolean }): Promise<{ deleted: DeleteResult; spaceReclaimed: number }> {
    const deleted: DeleteResult = [];
    const before = new Set(await this.snapshots.list());
    const sizes = new Map<string, number>();
    for (const c of before) sizes.set(c, (await this.snapshots.info(c))?.size ?? 0);
    for (const image of this.list()) {
      const { record } = image;
      if (this.users.containersUsing(record.id).length > 0) continue;
      if (!opts.all && !this.isDangling(record)) continue;
      if (opts.keep?.(image)) continue;
      const tags = this.meta.tagsOf(record.id);
      this.meta.transaction(() => {
        for (const tag of tags) {
          this.meta.deleteTag(tag);
          deleted.push({ Untagged: familiarString(parseReference(tag)) });
        }
        for (const digest of record.repoDigests) deleted.push({ Untagged: this.repoDigests({ ...record, repoDigests: [digest] })[0] });
        this.meta.deleteImage(record.id);
      });
      this.configCache.delete(record.id);
      deleted.push({ Deleted: record.id });
    }
    let spaceReclaimed = 0;
    // Always collect: what removed containers held is free now even when no image went.
    for (const chainId of await this.collectGarbage()) {
      deleted.push({ Deleted: chainId });
      spaceReclaimed += sizes.get(chainId) ?? 0;
    }
    return { deleted, spaceReclaimed };
  }

  private namedTag(nameOrId: string, tags: string[]): string | undefined {
    if (isDigest(nameOrId)) return undefined;
    try {
      const ref = parseReference(nameOrId);
      const name = canonicalString(ref);
      if (ref.digest) return undefined;
      return tags.includes(name) ? name : undefined;
    } catch {
      return undefined;
    }
  }
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
