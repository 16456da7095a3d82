// Layers that arrive as tars rather than from a registry (load, import, commit): each is stored
// once as an uncompressed blob named by its diff ID (what save writes back out) and unpacked into
// its chain's snapshot, in one pass over the bytes. The blob's digest is checked before the
// snapshot is published, so a layer that does not match its diff ID leaves nothing behind.
//
// Everything an ingest makes is recorded in a LayerTracker, so a load that fails half-way can take
// back exactly what it added (and nothing a concurrent pull or another image made).
import { createHash, randomBytes, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import type { ContentStore } from '../store/content.js';
import { chainIds } from '../util/digest.js';
import { DigestMismatchError, SystemError } from '../util/errors.js';
import { logger } from '../util/log.js';
import { sha256File } from '../util/native-layers.js';
import { MediaType, type Descriptor, type ImageConfig, type ImageManifest } from './oci.js';
import type { SnapshotStore } from './snapshots.js';
import { applyLayer, decompressStream } from './unpack.js';

const log = logger('ingest');

export interface IngestDeps {
  content: ContentStore;
  snapshots: SnapshotStore;
  /** Where temp files go (same filesystem as the data root). */
  tmpDir: string;
}

export interface IngestedLayer {
  diffId: string;
  chainId: string;
  /** Unpacked bytes of regular files (docker's layer size). */
  size: number;
  /** Bytes of the uncompressed layer tar (the blob). */
  tarSize: number;
}

/** What an operation created, so a failure can remove it again. */
export class LayerTracker {
  /** Made by this operation. */
  readonly blobs = new Set<string>();
  readonly snapshots = new Set<string>();
  /** Everything it relies on, made here or found: held against GC until the image is recorded. */
  readonly uses = { blobs: new Set<string>(), snapshots: new Set<string>() };

  /** Removes what this operation created; `keep` says what an image now refers to. */
  async rollback(deps: IngestDeps, keep: { blobs: Set<string>; chains: Set<string> }): Promise<void> {
    for (const chainId of this.snapshots) {
      if (!keep.chains.has(chainId)) await deps.snapshots.remove(chainId).catch((err) => log.warn({ err, chainId }, 'rollback: snapshot'));
    }
    for (const digest of this.blobs) {
      if (!keep.blobs.has(digest)) await deps.content.delete(digest).catch((err) => log.warn({ err, digest }, 'rollback: blob'));
    }
  }
}

/** A sink that only hashes what it is given. */
export function hashSink(hash: Hash): Writable {
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb();
    },
  });
}

/**
 * Writes `source` to every sink with backpressure, then ends them. A sink that fails stops the
 * copy with its error; a sink that closes early (a failed unpack) is skipped from then on.
 */
export async function pumpTo(source: Readable, sinks: Writable[]): Promise<void> {
  let failure: Error | undefined;
  const onError = (err: Error) => (failure ??= err);
  source.on('error', onError);
  for (const s of sinks) s.on('error', onError);
  const live = (s: Writable) => !s.destroyed && !s.writableEnded;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (failure) break;
      const waits: Array<Promise<void>> = [];
      for (const s of sinks) {
        if (!live(s)) continue;
        if (!s.write(chunk)) {
          waits.push(
            new Promise<void>((resolve) => {
              const done = () => {
                s.off('drain', done);
                s.off('close', done);
                s.off('error', done);
                resolve();
              };
              s.on('drain', done);
              s.on('close', done);
              s.on('error', done);
            }),
          );
        }
      }
      if (waits.length) await Promise.all(waits);
    }
    if (failure) throw failure;
    for (const s of sinks) if (live(s)) s.end();
  } catch (err) {
    source.destroy();
    throw failure ?? err;
  }
}

/**
 * Stores one layer whose diff ID is known (load: from the image config): `source` may be gzip or
 * zstd compressed. DigestMismatchError when the tar is not the one the config names.
 */
export async function ingestLayer(
  deps: IngestDeps,
  source: Readable,
  diffId: string,
  chainId: string,
  tracker?: LayerTracker,
): Promise<IngestedLayer> {
  const { content, snapshots } = deps;
  tracker?.uses.blobs.add(diffId);
  tracker?.uses.snapshots.add(chainId);
  const writer = await content.createWriter({ digest: diffId });
  const newBlob = !writer.alreadyExists;
  const tar = decompressStream();
  source.on('error', (err) => tar.destroy(err));
  source.pipe(tar);
  let filled = false;
  let size: number | undefined;
  try {
    if (!snapshots.has(chainId)) {
      const result = await snapshots.prepare(chainId, async (dir) => {
        filled = true;
        const toLayer = new PassThrough({ highWaterMark: 1 << 20 });
        const applying = applyLayer(toLayer, dir);
        applying.catch(() => undefined);
        await pumpTo(tar, [writer, toLayer]);
        // The digest first: a tar that is not the layer the config names is a mismatch, not a bad layer.
        await writer.verify();
        const applied = await applying;
        return { size: applied.size };
      });
      if (result.created) tracker?.snapshots.add(chainId);
      size = result.size;
    }
    if (!filled) {
      await pumpTo(tar, [writer]);
      size ??= (await snapshots.info(chainId))?.size;
    }
    await writer.commit();
    if (newBlob) tracker?.blobs.add(diffId);
    return { diffId, chainId, size: size ?? 0, tarSize: writer.written };
  } catch (err) {
    await writer.abort();
    tar.destroy();
    throw err;
  }
}

/**
 * ingestLayer for a layer already in a file of its own (a load's temp file): an uncompressed tar
 * is unpacked from the file and then moved into the content store as the blob, instead of being
 * written a second time. The file is consumed (moved or left for the caller to delete).
 */
export async function ingestLayerFile(
  deps: IngestDeps,
  file: string,
  diffId: string,
  chainId: string,
  tracker?: LayerTracker,
): Promise<IngestedLayer> {
  if (!fs.existsSync(file) && deps.content.has(diffId)) {
    // The same member twice in one archive: the first use already moved it into the store.
    return ingestLayer(deps, deps.content.createReadStream(diffId), diffId, chainId, tracker);
  }
  const head = Buffer.alloc(4);
  const fh = await fsp.open(file, 'r');
  let size: number;
  try {
    await fh.read(head, 0, 4, 0);
    size = (await fh.stat()).size;
  } finally {
    await fh.close();
  }
  const compressed = (head[0] === 0x1f && head[1] === 0x8b) || head.readUInt32LE(0) === 0xfd2fb528;
  if (compressed || deps.content.has(diffId)) {
    return ingestLayer(deps, fs.createReadStream(file, { highWaterMark: 1 << 20 }), diffId, chainId, tracker);
  }
  const { content, snapshots } = deps;
  tracker?.uses.blobs.add(diffId);
  tracker?.uses.snapshots.add(chainId);
  let unpacked: number | undefined;
  if (!snapshots.has(chainId)) {
    const result = await snapshots.prepare(chainId, async (dir) => {
      // The file is hashed on the thread pool while the event loop unpacks it (a second read, from
      // the page cache); nothing is published before the digest is checked.
      const hashing = sha256File(file);
      hashing.catch(() => undefined);
      const src = fs.createReadStream(file, { highWaterMark: 1 << 20 });
      let applied;
      try {
        applied = await applyLayer(src, dir);
      } catch (err) {
        src.destroy();
        // The bytes decide which error it is: not the layer the config names, or a bad layer.
        const actual = await hashing;
        if (actual !== diffId) throw new DigestMismatchError(diffId, actual, `layer ${diffId}: diff_id`);
        throw err;
      }
      const actual = await hashing;
      if (actual !== diffId) throw new DigestMismatchError(diffId, actual, `layer ${diffId}: diff_id`);
      return { size: applied.size };
    });
    if (result.created) tracker?.snapshots.add(chainId);
    unpacked = result.size;
  }
  // adopt() hashes the bytes again (from the page cache) before the blob takes its name.
  if (await content.adopt(diffId, file)) tracker?.blobs.add(diffId);
  unpacked ??= (await snapshots.info(chainId))?.size;
  return { diffId, chainId, size: unpacked ?? 0, tarSize: size };
}

/**
 * Stores a layer whose diff ID is not known yet (import, commit): the uncompressed tar goes to a
 * temp file while it is hashed, then is ingested from there under the digest it turned out to have.
 */
export async function ingestUnknownLayer(
  deps: IngestDeps,
  source: Readable,
  parentChainId: string | undefined,
  tracker?: LayerTracker,
): Promise<IngestedLayer> {
  await fsp.mkdir(deps.tmpDir, { recursive: true, mode: 0o700 });
  const tmp = join(deps.tmpDir, `layer-${randomBytes(8).toString('hex')}.tar`);
  try {
    const hash = createHash('sha256');
    const tar = decompressStream();
    source.on('error', (err) => tar.destroy(err));
    source.pipe(tar);
    const file = fs.createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
    await pumpTo(tar, [file, hashSink(hash)]);
    await new Promise<void>((resolve, reject) => {
      if (file.closed) return resolve();
      file.once('close', resolve);
      file.once('error', reject);
    });
    const diffId = 'sha256:' + hash.digest('hex');
    const chainId = parentChainId ? chainIds([parentChainId, diffId])[1] : diffId;
    // chainIds() treats its first element as a chain ID already, which is what the parent is.
    return await ingestLayer(deps, fs.createReadStream(tmp, { highWaterMark: 1 << 20 }), diffId, chainId, tracker);
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

/**
 * Stores config and an OCI manifest (uncompressed layers named by diff ID) for an image made from
 * tars; returns the manifest's digest and bytes. Both are small; they go through writeBuffer.
 */
export async function storeImageBlobs(
  content: ContentStore,
  configBytes: Buffer,
  layers: IngestedLayer[],
  tracker?: LayerTracker,
  baseLayers: Descriptor[] = [],
): Promise<{ configDigest: string; manifestDigest: string; manifest: ImageManifest }> {
  const configDigest = 'sha256:' + createHash('sha256').update(configBytes).digest('hex');
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: configDigest, size: configBytes.length },
    layers: [...baseLayers, ...layers.map((l): Descriptor => ({ mediaType: MediaType.ociLayer, digest: l.diffId, size: l.tarSize }))],
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = 'sha256:' + createHash('sha256').update(manifestBytes).digest('hex');
  for (const [digest, bytes] of [
    [configDigest, configBytes],
    [manifestDigest, manifestBytes],
  ] as const) {
    tracker?.uses.blobs.add(digest);
    const had = content.has(digest);
    await content.writeBuffer(digest, bytes);
    if (!had) tracker?.blobs.add(digest);
  }
  return { configDigest, manifestDigest, manifest };
}

/** Checks the parts of an image config berth relies on; the rest is kept as it came. */
export function parseImageConfig(bytes: Buffer, what: string): ImageConfig {
  let config: ImageConfig;
  try {
    config = JSON.parse(bytes.toString('utf8')) as ImageConfig;
  } catch (err) {
    throw new SystemError(`${what}: invalid image config JSON: ${(err as Error).message}`);
  }
  if (typeof config !== 'object' || config === null || !config.rootfs || !Array.isArray(config.rootfs.diff_ids)) {
    throw new SystemError(`${what}: image config has no rootfs.diff_ids`);
  }
  return config;
}
