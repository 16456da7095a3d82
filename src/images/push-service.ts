// Push = for each tag of the repository asked for: every layer blob (HEAD, cross-repository mount,
// or upload), the config blob, then the manifest in the exact bytes it was pulled in, so the
// pushed digest is the one the image was pulled under. Progress is docker's push stream.
//
// Layers are pushed compressed, as the content store keeps them from the pull. A layer whose
// snapshot already existed when the image was pulled (the same diff ID under another compressed
// blob) was never downloaded: it is fetched from the repository the image came from before the
// push, and if that fails the push stops with an error naming the layer (berth never recompresses:
// that would change the manifest's digest).
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { ContentStore } from '../store/content.js';
import type { MetadataStore } from '../store/metadata.js';
import { canonicalString, familiarString, parseReference, parseReferenceNoDefault } from '../registry/reference.js';
import type { ImageReference, RegistryAuth, RegistryClient, PushTransport } from '../registry/types.js';
import { blobExists, DEFAULT_CHUNK_SIZE, putManifest, startUpload, uploadBlob, type BlobSource, type PushTarget } from '../registry/push.js';
import { errorMessage, NotFoundError, SystemError } from '../util/errors.js';
import { logger } from '../util/log.js';
import type { ImageManifest, Descriptor } from './oci.js';
import type { ImageStore } from './store.js';

const log = logger('push');

/** Docker's default max-concurrent-uploads. */
export const MAX_CONCURRENT_UPLOADS = 5;
const PROGRESS_INTERVAL_MS = 100;

/** One message of docker's push stream. */
export interface PushMessage {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: { Tag: string; Digest: string; Size: number };
}

export interface PushDeps {
  registry: RegistryClient & PushTransport;
  content: ContentStore;
  images: ImageStore;
  meta: MetadataStore;
}

export interface PushOptions {
  auth?: RegistryAuth;
  signal?: AbortSignal;
  onMessage: (msg: PushMessage) => void;
}

function shortId(digest: string): string {
  return digest.replace(/^sha\d+:/, '').slice(0, 12);
}

/** Run `fn` over `items` with at most `limit` at once; the first failure rejects (after the rest settle). */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < items.length && failure === undefined) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
}

export class PushService {
  /** PATCH chunk size; BERTH_PUSH_CHUNK_SIZE (bytes) makes tests exercise chunked uploads. */
  readonly chunkSize = Number(process.env.BERTH_PUSH_CHUNK_SIZE) || DEFAULT_CHUNK_SIZE;

  constructor(private readonly deps: PushDeps) {}

  /** The tags to push for `name` (+ optional tag): one tag, or every tag of the repository. */
  private tagsToPush(repo: ImageReference, tag: string | undefined): string[] {
    if (tag) return [tag];
    const prefix = canonicalString({ domain: repo.domain, path: repo.path }) + ':';
    const tags: string[] = [];
    for (const img of this.deps.meta.listImages()) {
      for (const name of this.deps.meta.tagsOf(img.id)) if (name.startsWith(prefix)) tags.push(name.slice(prefix.length));
    }
    return tags.sort();
  }

  async push(name: string, tag: string | undefined, opts: PushOptions): Promise<void> {
    const repo = parseReferenceNoDefault(name);
    if (repo.digest) throw new SystemError(`cannot push a digest reference: ${name}`);
    const emit = opts.onMessage;
    emit({ status: `The push refers to repository [${canonicalString({ domain: repo.domain, path: repo.path })}]` });
    const tags = this.tagsToPush({ domain: repo.domain, path: repo.path }, tag ?? repo.tag);
    if (tags.length === 0) throw new NotFoundError(`An image does not exist locally with the tag: ${familiarString({ domain: repo.domain, path: repo.path })}`);
    const target: PushTarget = {
      transport: this.deps.registry,
      endpoint: await this.deps.registry.pushEndpoint(repo),
      ref: { domain: repo.domain, path: repo.path },
      auth: opts.auth,
      signal: opts.signal,
    };
    for (const t of tags) await this.pushTag(target, t, opts);
  }

  private async pushTag(target: PushTarget, tag: string, opts: PushOptions): Promise<void> {
    const { content, images } = this.deps;
    const full = canonicalString({ ...target.ref, tag });
    const image = images.resolve(full);
    if (!image) throw new NotFoundError(`An image does not exist locally with the tag: ${familiarString({ ...target.ref, tag: undefined })}`);
    const { record } = image;
    if (!record.manifestDigest || !content.has(record.manifestDigest)) {
      throw new SystemError(
        `image ${shortId(record.id)} has no stored registry manifest (berth pushes images in the form they were pulled in; it has no compressed layers for this one)`,
      );
    }
    const manifestBytes = content.readBuffer(record.manifestDigest);
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
    const layers = manifest.layers ?? [];
    if (manifest.config?.digest !== record.id || layers.length !== record.diffIds.length) {
      throw new SystemError(`image ${shortId(record.id)}: its stored manifest ${record.manifestDigest} does not describe it`);
    }
    // Repositories of the same registry this image came from: cross-repository mount sources.
    const sources = record.repoDigests
      .map((d) => parseReference(d.slice(0, d.lastIndexOf('@'))))
      .filter((r) => r.domain === target.ref.domain && r.path !== target.ref.path)
      .map((r) => r.path);

    // Docker lists the layers top first, each by its diff ID.
    const order = layers.map((desc, i) => ({ desc, id: shortId(record.diffIds[i]) })).reverse();
    for (const l of order) opts.onMessage({ status: 'Preparing', progressDetail: {}, id: l.id });
    // Layers beyond the upload slots wait for one, as docker says.
    for (const l of order.slice(MAX_CONCURRENT_UPLOADS)) opts.onMessage({ status: 'Waiting', progressDetail: {}, id: l.id });
    await eachLimited(order, MAX_CONCURRENT_UPLOADS, async ({ desc, id }) => {
      const msg = (status: string, progressDetail: PushMessage['progressDetail'] = {}) => opts.onMessage({ status, progressDetail, id });
      const result = await this.pushBlob(target, desc, record.repoDigests, sources, (sent) => msg('Pushing', { current: sent, total: desc.size }));
      if (result === 'exists') msg('Layer already exists');
      else if (result === 'pushed') msg('Pushed');
      else msg(`Mounted from ${result.from}`);
    });
    await this.pushBlob(target, manifest.config, record.repoDigests, sources, () => undefined);
    const digest = await putManifest(target, tag, record.manifestMediaType || manifest.mediaType || 'application/vnd.docker.distribution.manifest.v2+json', manifestBytes);
    opts.onMessage({ status: `${tag}: digest: ${digest} size: ${manifestBytes.length}` });
    opts.onMessage({ progressDetail: {}, aux: { Tag: tag, Digest: digest, Size: manifestBytes.length } });
    images.add({ ...record, repoDigests: [`${canonicalString(target.ref)}@${digest}`] });
    log.info({ ref: full, digest }, 'pushed');
  }

  private async pushBlob(
    target: PushTarget,
    desc: Descriptor,
    repoDigests: string[],
    sources: string[],
    onBytes: (sent: number) => void,
  ): Promise<'exists' | 'pushed' | { from: string }> {
    if (await blobExists(target, desc.digest)) return 'exists';
    if (!this.deps.content.has(desc.digest)) await this.fetchMissing(desc, repoDigests, target.auth);
    let uploadUrl: string | undefined;
    for (const from of sources) {
      try {
        const started = await startUpload(target, desc.digest, from);
        if (started === 'mounted') return { from };
        uploadUrl = started;
        break;
      } catch (err) {
        log.debug({ err: errorMessage(err), from }, 'cross-repository mount refused');
      }
    }
    uploadUrl ??= await startUpload(target);
    const blob: BlobSource = {
      digest: desc.digest,
      size: desc.size,
      open: (start, end) => createReadStream(this.deps.content.path(desc.digest), { start, end, highWaterMark: 1 << 20 }),
    };
    let last = 0;
    onBytes(0);
    await uploadBlob(target, uploadUrl, blob, (sent) => {
      const now = Date.now();
      if (now - last >= PROGRESS_INTERVAL_MS || sent === desc.size) {
        last = now;
        onBytes(sent);
      }
    }, this.chunkSize);
    log.debug({ digest: desc.digest, size: desc.size, chunks: desc.size > this.chunkSize ? Math.ceil(desc.size / this.chunkSize) : 0 }, 'blob uploaded');
    return 'pushed';
  }

  /** A layer blob the pull never stored (its snapshot was already there): fetch it from the image's source. */
  private async fetchMissing(desc: Descriptor, repoDigests: string[], auth: RegistryAuth | undefined): Promise<void> {
    const { registry, content } = this.deps;
    let lastError: unknown;
    for (const rd of repoDigests) {
      try {
        const ref = parseReference(rd);
        const resolved = await registry.resolve(ref, { auth: undefined });
        const source = await registry.fetchBlob(resolved, desc, { auth: undefined });
        const writer = await content.createWriter({ digest: desc.digest, size: desc.size });
        try {
          await pipeline(source, writer);
          await writer.commit();
        } catch (err) {
          await writer.abort();
          throw err;
        }
        return;
      } catch (err) {
        lastError = err;
      }
    }
    void auth;
    throw new SystemError(
      `layer ${desc.digest} is not in berth's content store (its content was already present when the image was pulled, under another blob) and could not be fetched from where the image came from${lastError ? `: ${errorMessage(lastError)}` : ''}`,
    );
  }
}
