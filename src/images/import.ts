// docker import and docker commit: a new image from one layer tar (a user's rootfs tar, or a
// container's changes) plus a config. Import starts from an empty config; commit from the image the
// container runs, with the container's settings and one more history entry. Both apply `--change`
// lines and store through the same ingest as load, so a failure leaves nothing behind.
import type { Readable } from 'node:stream';
import { canonicalString } from '../registry/reference.js';
import type { ImageReference } from '../registry/types.js';
import type { ContentStore } from '../store/content.js';
import { applyChanges } from './changes.js';
import { ingestUnknownLayer, LayerTracker, storeImageBlobs, type IngestDeps } from './ingest.js';
import type { ContainerDefaults, HistoryEntry, ImageConfig, ImageManifest } from './oci.js';
import type { SnapshotStore } from './snapshots.js';
import type { ImageStore, StoredImage } from './store.js';
import { join } from 'node:path';

export interface NewImageDeps {
  content: ContentStore;
  snapshots: SnapshotStore;
  images: ImageStore;
  dataRoot: string;
}

interface NewImage {
  base?: StoredImage;
  layer: Readable;
  config: ContainerDefaults;
  history: HistoryEntry;
  author?: string;
  comment?: string;
  ref?: ImageReference;
  extra?: Record<string, unknown>;
}

async function makeImage(deps: NewImageDeps, spec: NewImage): Promise<string> {
  const ingestDeps: IngestDeps = { content: deps.content, snapshots: deps.snapshots, tmpDir: join(deps.dataRoot, 'tmp') };
  const tracker = new LayerTracker();
  const release = deps.images.hold(tracker.uses);
  try {
    const base = spec.base;
    const parentChain = base?.record.chainIds[base.record.chainIds.length - 1];
    const layer = await ingestUnknownLayer(ingestDeps, spec.layer, parentChain, tracker);
    const created = spec.history.created!;
    const baseConfig = base?.config;
    const config: ImageConfig & Record<string, unknown> = {
      ...(baseConfig ?? {}),
      ...(spec.extra ?? {}),
      architecture: baseConfig?.architecture ?? 'amd64',
      os: baseConfig?.os ?? 'linux',
      created,
      config: spec.config,
      rootfs: { type: 'layers', diff_ids: [...(baseConfig?.rootfs.diff_ids ?? []), layer.diffId] },
      history: [...(baseConfig?.history ?? []), spec.history],
    };
    if (spec.author !== undefined) config.author = spec.author;
    else delete config.author;
    if (spec.comment) config.comment = spec.comment;
    else delete config.comment;
    const configBytes = Buffer.from(JSON.stringify(config));
    // The base image's layers as they are stored: loaded ones by diff ID, pulled ones compressed.
    const baseLayers = base
      ? (JSON.parse(deps.content.readBuffer(base.record.manifestDigest).toString('utf8')) as ImageManifest).layers
      : [];
    const { configDigest, manifestDigest } = await storeImageBlobs(deps.content, configBytes, [layer], tracker, baseLayers);
    deps.images.add({
      id: configDigest,
      repoDigests: [],
      manifestDigest,
      manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
      chainIds: [...(base?.record.chainIds ?? []), layer.chainId],
      diffIds: config.rootfs.diff_ids,
      size: (base?.record.size ?? 0) + layer.size,
      created,
      addedAt: Date.now(),
      parent: base?.record.id,
    });
    if (spec.ref) deps.images.tag(configDigest, canonicalString({ ...spec.ref, tag: spec.ref.tag ?? 'latest' }));
    return configDigest;
  } catch (err) {
    release();
    await tracker.rollback(ingestDeps, deps.images.liveRefs());
    throw err;
  } finally {
    release();
  }
}

export interface ImportOptions {
  changes: string[];
  message: string;
  /** What the tar came from ("-" or a URL), for the default history comment. */
  source: string;
  ref?: ImageReference;
}

/** docker import: the tar (plain or compressed) becomes the single layer of a new image. */
export function importImage(deps: NewImageDeps, tar: Readable, opts: ImportOptions): Promise<string> {
  const created = new Date().toISOString();
  const comment = opts.message || `Imported from ${opts.source}`;
  return makeImage(deps, {
    layer: tar,
    config: applyChanges({}, opts.changes),
    history: { created, comment },
    comment,
    ref: opts.ref,
  });
}

export interface CommitOptions {
  base: StoredImage;
  layer: Readable;
  containerId: string;
  /** The container's settings (Cmd, Env, ...) that become the image's defaults. */
  config: ContainerDefaults;
  createdBy: string;
  changes: string[];
  author: string;
  comment: string;
  ref?: ImageReference;
}

/** docker commit: the container's changes as one more layer on top of its image. */
export function commitImage(deps: NewImageDeps, opts: CommitOptions): Promise<string> {
  const created = new Date().toISOString();
  const history: HistoryEntry = { created, created_by: opts.createdBy };
  if (opts.author) history.author = opts.author;
  if (opts.comment) history.comment = opts.comment;
  return makeImage(deps, {
    base: opts.base,
    layer: opts.layer,
    config: applyChanges(opts.config, opts.changes),
    history,
    author: opts.author || undefined,
    comment: opts.comment,
    ref: opts.ref,
    extra: { container: opts.containerId },
  });
}
