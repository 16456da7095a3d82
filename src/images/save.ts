// docker save: images out as the tar Docker 25+ writes, which older and newer `docker load`,
// skopeo (docker-archive: and oci-archive:) and containerd all read:
//   blobs/sha256/<hex>   configs, OCI manifests and uncompressed layer tars (named by diff ID)
//   index.json           OCI index: one manifest per name (io.containerd.image.name, ref.name)
//   manifest.json        [{Config, RepoTags, Layers}] pointing into blobs/
//   repositories         {"repo": {"tag": "<top layer hex>"}}
//   oci-layout           {"imageLayoutVersion": "1.0.0"}
// Layers pulled compressed are decompressed on the way out (into a temp file, since a tar header
// needs the size first) and checked against their diff ID; layers stored uncompressed stream as is.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { canonicalString, familiarString, parseReference, parseReferenceNoDefault } from '../registry/reference.js';
import type { ContentStore } from '../store/content.js';
import { DigestMismatchError, NotFoundError } from '../util/errors.js';
import { logger } from '../util/log.js';
import { pumpTo } from './ingest.js';
import { MediaType, type Descriptor, type ImageManifest } from './oci.js';
import type { ImageStore, StoredImage } from './store.js';
import { decompressStream } from './unpack.js';

const log = logger('save');

export interface SaveDeps {
  content: ContentStore;
  images: ImageStore;
  dataRoot: string;
}

interface Selected {
  image: StoredImage;
  /** Canonical names to write for it (empty when saved by ID). */
  names: string[];
}

/** Which images and names: a name with a tag is that tag; a bare repository is all its tags. */
export function selectImages(images: ImageStore, names: string[]): Selected[] {
  const byId = new Map<string, Selected>();
  const add = (image: StoredImage, tags: string[]) => {
    const entry = byId.get(image.record.id) ?? { image, names: [] };
    for (const t of tags) if (!entry.names.includes(t)) entry.names.push(t);
    byId.set(image.record.id, entry);
  };
  for (const name of names) {
    let ref: ReturnType<typeof parseReferenceNoDefault> | undefined;
    try {
      ref = parseReferenceNoDefault(name);
    } catch {
      ref = undefined;
    }
    if (ref && !ref.tag && !ref.digest) {
      // A repository name alone: every tag of that repository, as docker does.
      const prefix = `${canonicalString({ domain: ref.domain, path: ref.path })}:`;
      let found = false;
      for (const img of images.list()) {
        const tags = images.tagNames(img.record.id).filter((t) => t.startsWith(prefix));
        if (tags.length === 0) continue;
        found = true;
        add(img, tags);
      }
      if (found) continue;
    }
    const image = images.resolve(name);
    if (!image) throw new NotFoundError(`No such image: ${name}`);
    add(image, ref?.tag ? [canonicalString(parseReference(name))] : []);
  }
  return [...byId.values()];
}

function sha256(b: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

/** Fails before any byte is sent when a layer cannot be written (its blob is gone). */
export function checkSavable(content: ContentStore, selected: Selected[]): void {
  for (const { image } of selected) {
    const stored = JSON.parse(content.readBuffer(image.record.manifestDigest).toString('utf8')) as ImageManifest;
    image.record.diffIds.forEach((diffId, i) => {
      const blob = stored.layers[i]?.digest;
      if (!content.has(diffId) && !(blob && content.has(blob))) {
        throw new NotFoundError(`layer ${diffId} of image ${image.record.id}: its blob is not in the content store; pull the image again to save it`);
      }
    });
  }
}

/** The tar stream for `docker save`. Errors after the start end the stream early (as docker's do). */
export function saveImages(deps: SaveDeps, selected: Selected[]): Readable {
  const pack = tarStream.pack();
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  (pack as unknown as Readable).pipe(out);
  (pack as unknown as NodeJS.EventEmitter).on('error', (err: Error) => out.destroy(err));
  void writeArchive(deps, selected, pack).then(
    () => pack.finalize(),
    (err: unknown) => {
      log.warn({ err }, 'save failed');
      out.destroy(err instanceof Error ? err : new Error(String(err)));
      pack.destroy();
    },
  );
  return out;
}

const MTIME = new Date(0);

function addBuffer(pack: tarStream.Pack, name: string, data: Buffer | string): Promise<void> {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  return new Promise((resolve, reject) => {
    pack.entry({ name, size: buf.length, mode: 0o644, mtime: MTIME }, buf, (err) => (err ? reject(err) : resolve()));
  });
}

async function addFile(pack: tarStream.Pack, name: string, source: Readable, size: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const entry = pack.entry({ name, size, mode: 0o644, mtime: MTIME }, (err) => (err ? reject(err) : resolve()));
    pumpTo(source, [entry as unknown as import('node:stream').Writable]).catch(reject);
  });
}

async function writeArchive(deps: SaveDeps, selected: Selected[], pack: tarStream.Pack): Promise<void> {
  const { content } = deps;
  const written = new Set<string>();
  const dirEntry = (name: string) =>
    new Promise<void>((resolve, reject) => pack.entry({ name, type: 'directory', mode: 0o755, mtime: MTIME }, (err) => (err ? reject(err) : resolve())));
  await dirEntry('blobs');
  await dirEntry('blobs/sha256');
  const blobName = (digest: string) => `blobs/sha256/${digest.slice(7)}`;
  const addBlob = async (digest: string, data: Buffer) => {
    if (written.has(digest)) return;
    written.add(digest);
    await addBuffer(pack, blobName(digest), data);
  };

  const manifestJson: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];
  const indexEntries: Descriptor[] = [];
  const repositories: Record<string, Record<string, string>> = {};

  for (const { image, names } of selected) {
    const { record } = image;
    const configBytes = content.readBuffer(record.id);
    await addBlob(record.id, configBytes);
    const stored = JSON.parse(content.readBuffer(record.manifestDigest).toString('utf8')) as ImageManifest;
    const layers: Descriptor[] = [];
    for (let i = 0; i < record.diffIds.length; i++) {
      const diffId = record.diffIds[i];
      const desc = stored.layers[i];
      const size = await writeLayer(deps, pack, desc, diffId, written);
      layers.push({ mediaType: MediaType.ociLayer, digest: diffId, size });
    }
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: record.id, size: configBytes.length },
      layers,
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const manifestDigest = sha256(manifestBytes);
    await addBlob(manifestDigest, manifestBytes);
    const desc: Descriptor = { mediaType: MediaType.ociManifest, digest: manifestDigest, size: manifestBytes.length };
    const familiar = names.map((n) => familiarString(parseReference(n)));
    if (names.length === 0) indexEntries.push(desc);
    for (const n of names) {
      const ref = parseReference(n);
      indexEntries.push({ ...desc, annotations: { 'io.containerd.image.name': n, 'org.opencontainers.image.ref.name': ref.tag ?? 'latest' } });
      const repo = familiarString({ ...ref, tag: undefined });
      const top = record.diffIds[record.diffIds.length - 1];
      if (top) (repositories[repo] ??= {})[ref.tag ?? 'latest'] = top.slice(7);
    }
    manifestJson.push({ Config: blobName(record.id), RepoTags: familiar.length ? familiar : null, Layers: record.diffIds.map(blobName) });
  }
  await addBuffer(pack, 'index.json', JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: indexEntries }) + '\n');
  await addBuffer(pack, 'manifest.json', JSON.stringify(manifestJson) + '\n');
  await addBuffer(pack, 'oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  if (Object.keys(repositories).length) await addBuffer(pack, 'repositories', JSON.stringify(repositories) + '\n');
}

/** Writes one layer's uncompressed tar as blobs/sha256/<diffId hex>; returns its size. */
async function writeLayer(deps: SaveDeps, pack: tarStream.Pack, desc: Descriptor | undefined, diffId: string, written: Set<string>): Promise<number> {
  const { content } = deps;
  const name = `blobs/sha256/${diffId.slice(7)}`;
  if (content.has(diffId)) {
    // Stored uncompressed (loaded, imported, committed): the blob is the layer tar.
    const size = (await content.stat(diffId))!.size;
    if (!written.has(diffId)) {
      written.add(diffId);
      await addFile(pack, name, content.createReadStream(diffId), size);
    }
    return size;
  }
  if (!desc) throw new NotFoundError(`layer ${diffId}: no blob to save it from`);
  const tmpDir = join(deps.dataRoot, 'tmp');
  await fsp.mkdir(tmpDir, { recursive: true, mode: 0o700 });
  const tmp = join(tmpDir, `save-${randomBytes(8).toString('hex')}.tar`);
  try {
    // The decompressor hashes the tar (for gzip on the pool, with the inflating).
    const tar = decompressStream(desc.mediaType, { digest: true });
    const src = content.createReadStream(desc.digest);
    src.on('error', (err) => tar.destroy(err));
    src.pipe(tar);
    const file = fs.createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
    await pumpTo(tar, [file]);
    await new Promise<void>((resolve, reject) => (file.closed ? resolve() : (file.once('close', resolve), file.once('error', reject))));
    const actual = tar.digest();
    if (actual !== diffId) throw new DigestMismatchError(diffId, actual, `layer ${desc.digest}: diff_id`);
    const size = (await fsp.stat(tmp)).size;
    if (!written.has(diffId)) {
      written.add(diffId);
      await addFile(pack, name, fs.createReadStream(tmp, { highWaterMark: 1 << 20 }), size);
    }
    return size;
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}
