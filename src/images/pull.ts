// The pull pipeline: resolve → store manifest and config → for each layer, stream the blob once into
// both the content store (hashing the compressed bytes) and decompress → applyLayer (hashing the tar,
// which must equal the config's diff_id). The snapshot is published only when both digests match,
// so a lying registry never leaves a blob or a snapshot behind. Layers download in parallel (3 at a
// time, daemon-wide, like docker's max-concurrent-downloads) and unpack while they arrive.
//
// Image metadata (tags, records) is not written here: the ImageStore does that from PulledImage.
import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type { ContentStore, ContentWriter } from '../store/content.js';
import type { ImageReference, RegistryAuth, RegistryClient, ResolvedImage } from '../registry/types.js';
import { chainIds, digestHex, isDigest } from '../util/digest.js';
import { DigestMismatchError, InvalidParameterError, SystemError } from '../util/errors.js';
import { Limiter } from '../util/limiter.js';
import { logger } from '../util/log.js';
import type { Descriptor, ImageConfig, Platform } from './oci.js';
import type { SnapshotStore } from './snapshots.js';
import { applyLayer, decompressStream } from './unpack.js';

const log = logger('pull');

export type PullStatus =
  | 'Pulling fs layer'
  | 'Waiting'
  | 'Downloading'
  | 'Verifying Checksum'
  | 'Download complete'
  | 'Extracting'
  | 'Pull complete'
  | 'Already exists';

/** One line of docker's pull progress stream, for one layer. */
export interface PullProgress {
  /** Docker's short layer id: the first 12 hex digits of the layer blob digest. */
  id: string;
  status: PullStatus;
  progressDetail?: { current: number; total: number };
}

export interface PulledLayer {
  descriptor: Descriptor;
  diffId: string;
  chainId: string;
  /** Unpacked bytes (regular file content). */
  size: number;
}

export interface PulledImage {
  /** The config digest: docker's image ID. */
  id: string;
  /** Digest the tag pointed at (index or manifest). */
  repoDigest: string;
  manifestDigest: string;
  manifestMediaType: string;
  config: ImageConfig;
  configBytes: Buffer;
  layers: PulledLayer[];
}

export interface PullDeps {
  registry: RegistryClient;
  content: ContentStore;
  snapshots: SnapshotStore;
}

export interface PullOptions {
  auth?: RegistryAuth;
  platform?: Platform;
  signal?: AbortSignal;
  onProgress?: (ev: PullProgress) => void;
}

/** Docker's default max-concurrent-downloads. */
export const MAX_CONCURRENT_DOWNLOADS = 3;
const PROGRESS_INTERVAL_MS = 100;

// ---------------------------------------------------------------------------------------------
// Process-wide sharing, keyed by store so separate daemons (tests) never share state.

/** A layer being made: shared by every pull that needs the same chain meanwhile. */
interface LayerJob {
  done: Promise<number>;
  listeners: Set<(ev: PullProgress) => void>;
  subscribers: number;
  abort: AbortController;
}

interface Shared {
  limiter: Limiter;
  layerJobs: Map<string, LayerJob>;
  /** Blob downloads in progress by digest: one blob under two chains is still fetched once. */
  downloads: Map<string, Promise<unknown>>;
}

const sharedByStore = new WeakMap<ContentStore, Shared>();

function shared(content: ContentStore): Shared {
  let s = sharedByStore.get(content);
  if (!s) {
    s = { limiter: new Limiter(MAX_CONCURRENT_DOWNLOADS), layerJobs: new Map(), downloads: new Map() };
    sharedByStore.set(content, s);
  }
  return s;
}

export function shortId(digest: string): string {
  return digestHex(digest).slice(0, 12);
}

// ---------------------------------------------------------------------------------------------

export async function pullImage(deps: PullDeps, ref: ImageReference, opts: PullOptions = {}): Promise<PulledImage> {
  const { registry, content, snapshots } = deps;
  const emit = (ev: PullProgress) => {
    try {
      opts.onProgress?.(ev);
    } catch (err) {
      log.warn({ err }, 'progress listener failed');
    }
  };

  const image = await registry.resolve(ref, { auth: opts.auth, platform: opts.platform, signal: opts.signal });
  const layerDescs = image.manifest.layers ?? [];
  const diffIds = image.config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== layerDescs.length) {
    throw new InvalidParameterError(
      `image ${image.manifestDigest}: manifest has ${layerDescs.length} layers but config lists ${diffIds.length} diff_ids`,
    );
  }
  for (const d of [...layerDescs.map((l) => l.digest), ...diffIds]) {
    if (!isDigest(d)) throw new InvalidParameterError(`image ${image.manifestDigest}: unsupported digest ${JSON.stringify(d)}`);
  }

  // Manifest and config first: once layers are in, everything an image record points at exists.
  await content.writeBuffer(image.manifestDigest, image.manifestBytes);
  await content.writeBuffer(image.configDescriptor.digest, image.configBytes);

  const chains = chainIds(diffIds);
  const sh = shared(content);

  // Docker announces every layer first, then works on them.
  const present = chains.map((c) => snapshots.has(c));
  // With every layer present, docker prints no layer lines at all ("Image is up to date").
  if (!present.every(Boolean)) {
    layerDescs.forEach((desc, i) => emit({ id: shortId(desc.digest), status: present[i] ? 'Already exists' : 'Pulling fs layer' }));
  }

  const results = await Promise.allSettled(
    layerDescs.map(async (desc, i): Promise<PulledLayer> => {
      const chainId = chains[i];
      const diffId = diffIds[i];
      if (present[i]) {
        // The snapshot outlived its blob (a container kept the layer while its image went):
        // fetch the blob again so the image is whole (save needs it), without unpacking.
        if (!content.has(desc.digest)) await fetchBlobOnly(deps, image, desc, opts);
        const info = await snapshots.info(chainId);
        return { descriptor: desc, diffId, chainId, size: info?.size ?? 0 };
      }
      const size = await joinLayerJob(deps, sh, image, desc, diffId, chainId, opts, emit);
      return { descriptor: desc, diffId, chainId, size };
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;

  return {
    id: image.configDescriptor.digest,
    repoDigest: image.repoDigest,
    manifestDigest: image.manifestDigest,
    manifestMediaType: image.manifestMediaType,
    config: image.config,
    configBytes: image.configBytes,
    layers: results.map((r) => (r as PromiseFulfilledResult<PulledLayer>).value),
  };
}

async function fetchBlobOnly(deps: PullDeps, image: ResolvedImage, desc: Descriptor, opts: PullOptions): Promise<void> {
  const writer = await deps.content.createWriter({ digest: desc.digest, size: desc.size });
  try {
    const source = await deps.registry.fetchBlob(image, desc, { auth: opts.auth, signal: opts.signal });
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (!writer.write(chunk)) await new Promise((r) => writer.once('drain', r));
    }
    await writer.commit();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** Runs (or joins) the job making one layer's snapshot, relaying its progress to this pull. */
async function joinLayerJob(
  deps: PullDeps,
  sh: Shared,
  image: ResolvedImage,
  desc: Descriptor,
  diffId: string,
  chainId: string,
  opts: PullOptions,
  emit: (ev: PullProgress) => void,
): Promise<number> {
  // Checked before a job starts: a job started for a pull that already gave up would run to its
  // end with nobody waiting (the abort listener below never fires for a past abort).
  if (opts.signal?.aborted) throw opts.signal.reason;
  let job = sh.layerJobs.get(chainId);
  if (!job) {
    const abort = new AbortController();
    const listeners = new Set<(ev: PullProgress) => void>();
    const broadcast = (ev: PullProgress) => listeners.forEach((l) => l(ev));
    const done = makeLayer(deps, sh, image, desc, diffId, chainId, opts.auth, abort.signal, broadcast).finally(() =>
      sh.layerJobs.delete(chainId),
    );
    job = { done, listeners, subscribers: 0, abort };
    sh.layerJobs.set(chainId, job);
  }
  const j = job;
  j.listeners.add(emit);
  j.subscribers++;
  // The shared job stops only when every pull waiting on it gave up.
  const onAbort = () => {
    if (--j.subscribers === 0) j.abort.abort(opts.signal!.reason);
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (opts.signal?.aborted) throw opts.signal.reason;
    return await (opts.signal ? raceAbort(j.done, opts.signal) : j.done);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (!opts.signal?.aborted) j.subscribers--;
    j.listeners.delete(emit);
  }
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

async function makeLayer(
  deps: PullDeps,
  sh: Shared,
  image: ResolvedImage,
  desc: Descriptor,
  diffId: string,
  chainId: string,
  auth: RegistryAuth | undefined,
  signal: AbortSignal,
  emit: (ev: PullProgress) => void,
): Promise<number> {
  const id = shortId(desc.digest);
  const { content, snapshots } = deps;
  const result = await snapshots.prepare(chainId, async (dir) => {
    // Same blob under another chain being downloaded right now: let it land, then read it locally.
    // No await between the last check and registering ours, so one blob is fetched once.
    for (let other = sh.downloads.get(desc.digest); other; other = sh.downloads.get(desc.digest)) {
      await other.catch(() => undefined);
    }
    if (content.has(desc.digest)) {
      const size = await unpackLocal(content, desc, diffId, dir, signal, (ev) => emit({ id, ...ev }));
      return { size };
    }
    const download = (async () => {
      if (!sh.limiter.free) emit({ id, status: 'Waiting' });
      const release = await sh.limiter.acquire(signal);
      try {
        return await downloadAndUnpack(deps, image, desc, diffId, dir, auth, signal, release, (ev) => emit({ id, ...ev }));
      } finally {
        release();
      }
    })();
    sh.downloads.set(desc.digest, download);
    try {
      return { size: await download };
    } finally {
      if (sh.downloads.get(desc.digest) === download) sh.downloads.delete(desc.digest);
    }
  });
  emit({ id, status: 'Pull complete' });
  return result.size ?? 0;
}

type LayerEvent = Omit<PullProgress, 'id'>;

function throttled(emit: (ev: LayerEvent) => void, status: PullStatus, total: number): (current: number, force?: boolean) => void {
  let last = 0;
  return (current, force) => {
    const now = Date.now();
    if (!force && now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    emit({ status, progressDetail: { current, total } });
  };
}

async function downloadAndUnpack(
  deps: PullDeps,
  image: ResolvedImage,
  desc: Descriptor,
  diffId: string,
  dir: string,
  auth: RegistryAuth | undefined,
  signal: AbortSignal,
  releaseSlot: () => void,
  emit: (ev: LayerEvent) => void,
): Promise<number> {
  const writer = await deps.content.createWriter({ digest: desc.digest, size: desc.size });
  try {
    const source = await deps.registry.fetchBlob(image, desc, { auth, signal });
    const progress = throttled(emit, 'Downloading', desc.size);
    progress(0, true);
    const unpacked = await teeIntoLayer(source, desc, dir, writer.alreadyExists ? undefined : writer, signal, progress, () => {
      // The network part is over: give the slot to the next layer while this one finishes extracting.
      releaseSlot();
      emit({ status: 'Verifying Checksum' });
    });
    // verify() before anything is published: the compressed digest, then (below) the diff_id.
    if (writer.alreadyExists) {
      // Someone stored this blob while we streamed: our bytes were hashed by teeIntoLayer instead.
    } else {
      await writer.verify();
    }
    emit({ status: 'Download complete' });
    emit({ status: 'Extracting', progressDetail: { current: desc.size, total: desc.size } });
    if (unpacked.diffId !== diffId) throw new DigestMismatchError(diffId, unpacked.diffId, `layer ${desc.digest}: diff_id`);
    if (writer.alreadyExists && unpacked.compressedDigest !== desc.digest) {
      throw new DigestMismatchError(desc.digest, unpacked.compressedDigest ?? 'unknown', 'blob');
    }
    await writer.commit();
    return unpacked.size;
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

async function unpackLocal(
  content: ContentStore,
  desc: Descriptor,
  diffId: string,
  dir: string,
  signal: AbortSignal,
  emit: (ev: LayerEvent) => void,
): Promise<number> {
  const source = content.createReadStream(desc.digest);
  const total = (await content.stat(desc.digest))?.size ?? desc.size;
  const progress = throttled(emit, 'Extracting', total);
  progress(0, true);
  const unpacked = await teeIntoLayer(source, desc, dir, undefined, signal, progress);
  progress(total, true);
  // The stored blob was verified when written; a mismatch now means the disk changed it.
  if (unpacked.compressedDigest !== desc.digest) {
    throw new DigestMismatchError(desc.digest, unpacked.compressedDigest ?? 'unknown', `stored blob`);
  }
  if (unpacked.diffId !== diffId) throw new DigestMismatchError(diffId, unpacked.diffId, `layer ${desc.digest}: diff_id`);
  return unpacked.size;
}

interface Unpacked {
  size: number;
  diffId: string;
  /** Only when no writer hashed the compressed bytes. */
  compressedDigest?: string;
}

/**
 * Streams `source` (compressed blob bytes) into `writer` (if any) and into decompress → hash →
 * applyLayer at once, honouring backpressure on both branches. Any failure on either side tears
 * down the whole thing and rejects with the first error.
 */
async function teeIntoLayer(
  source: Readable,
  desc: Descriptor,
  dir: string,
  writer: ContentWriter | undefined,
  signal: AbortSignal,
  onBytes: (current: number, force?: boolean) => void,
  onSourceEnd?: () => void,
): Promise<Unpacked> {
  const compressedHash = writer ? undefined : createHash('sha256');
  // The tar is hashed by the decompressor (for gzip, off the event loop): that is the diff_id.
  const decomp = decompressStream(desc.mediaType, { digest: true });

  let failure: Error | undefined;
  const fail = (err: unknown) => {
    if (failure) return;
    failure = err instanceof Error ? err : new SystemError(String(err));
    source.destroy(failure);
    decomp.destroy(failure);
    if (writer && !writer.destroyed) writer.destroy(failure);
  };
  const onAbort = () => fail(signal.reason instanceof Error ? signal.reason : new SystemError('pull aborted'));
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  // A failure on the unpacking side (bad gzip, bad tar) does not stop the download: the blob is
  // read to its end and checked, so a corrupted blob is reported as the digest mismatch it is.
  let unpackFailure: Error | undefined;
  const failUnpack = (err: unknown) => {
    if (unpackFailure) return;
    unpackFailure = err instanceof Error ? err : new SystemError(String(err));
    decomp.destroy(unpackFailure);
  };
  // Persistent listeners: an 'error' with no listener would crash the daemon.
  source.on('error', fail);
  decomp.on('error', failUnpack);
  writer?.on('error', fail);

  const applying = applyLayer(decomp, dir);
  applying.catch(failUnpack);

  const drained = (s: Writable) =>
    new Promise<void>((resolve, reject) => {
      if (failure) return reject(failure);
      if (s === decomp && unpackFailure) return resolve();
      const done = () => {
        s.off('drain', done);
        s.off('close', done);
        if (failure) reject(failure);
        else resolve();
      };
      s.once('drain', done);
      s.once('close', done);
    });

  try {
    let bytes = 0;
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (failure) break;
      bytes += chunk.length;
      compressedHash?.update(chunk);
      const okWriter = writer ? writer.write(chunk) : true;
      const okDecomp = unpackFailure ? true : decomp.write(chunk);
      onBytes(bytes);
      if (!okWriter || !okDecomp) {
        await Promise.all([okWriter ? undefined : drained(writer!), okDecomp ? undefined : drained(decomp)]);
      }
    }
    if (failure) throw failure;
    if (!unpackFailure) {
      onBytes(bytes, true);
      onSourceEnd?.();
      decomp.end();
    }
    writer?.end();
    const applied = await applying.catch((err: unknown) => {
      failUnpack(err);
      return undefined;
    });
    if (failure) throw failure;
    if (unpackFailure || !applied) {
      // The bytes decide which error this is: a blob that does not match its digest, or a
      // genuine blob that is not a valid layer.
      if (writer) await writer.verify();
      else if (compressedHash && 'sha256:' + compressedHash.digest('hex') !== desc.digest) {
        throw new DigestMismatchError(desc.digest, 'other content', `blob ${desc.digest}`);
      }
      throw unpackFailure ?? new SystemError(`layer ${desc.digest}: unpack failed`);
    }
    return {
      size: applied.size,
      diffId: decomp.digest(),
      compressedDigest: compressedHash ? 'sha256:' + compressedHash.digest('hex') : undefined,
    };
  } catch (err) {
    fail(err);
    await applying.catch(() => undefined);
    throw failure ?? err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
