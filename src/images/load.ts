// docker load: image archives in, images out. Reads
//  - docker-archive: manifest.json [{Config, RepoTags, Layers}] with layer tars at any path (the old
//    `<id>/layer.tar` layout, Docker 25+'s `blobs/sha256/<hex>`, skopeo's `<hex>.tar`), plain or
//    gzip/zstd compressed;
//  - OCI image layouts (index.json + blobs/sha256, nested indexes; skopeo's oci-archive), names from
//    the `io.containerd.image.name` or a full `org.opencontainers.image.ref.name` annotation.
// Every digest is checked: the config against its name (image ID), each layer tar against the
// config's diff_ids, and in OCI layouts every blob against its descriptor. The load is all or
// nothing: records are written only once every image of the archive is in, and whatever the load
// made is removed again when any part fails.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { canonicalString, familiarString, parseReference } from '../registry/reference.js';
import type { ImageReference } from '../registry/types.js';
import type { ContentStore } from '../store/content.js';
import { chainIds, isDigest } from '../util/digest.js';
import { DigestMismatchError } from '../util/errors.js';
import { Limiter } from '../util/limiter.js';
import { ingestLayer, ingestLayerFile, LayerTracker, parseImageConfig, storeImageBlobs, type IngestDeps, type IngestedLayer } from './ingest.js';
import { isIndexMediaType, type Descriptor, type ImageIndex, type ImageManifest } from './oci.js';
import type { SnapshotStore } from './snapshots.js';
import type { ImageStore } from './store.js';
import { ArchiveError, ExtractedArchive } from './tar-archive.js';

export interface LoadDeps {
  content: ContentStore;
  snapshots: SnapshotStore;
  images: ImageStore;
  dataRoot: string;
}

/** One image found in the archive, before it is stored. */
interface Candidate {
  configBytes: Buffer;
  /** Readers of each layer in order, with the raw-bytes digest to check when the archive names one. */
  layers: Array<{ path: string; rawDigest?: string }>;
  refs: ImageReference[];
}

const HEX_NAME = /(?:^|\/)(?:sha256[:/])?([a-f0-9]{64})(?:\.json|\.tar)?$/;

function sha256(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (err) {
    throw new ArchiveError(`invalid archive: ${what} is not valid JSON: ${(err as Error).message}`);
  }
}

function refOf(name: string, what: string): ImageReference {
  try {
    const ref = parseReference(name);
    if (ref.digest) throw new ArchiveError(`invalid archive: ${what} ${JSON.stringify(name)} is a digest reference, not a tag`);
    return ref;
  } catch (err) {
    if (err instanceof ArchiveError) throw err;
    throw new ArchiveError(`invalid archive: ${what} ${JSON.stringify(name)}: ${(err as Error).message}`);
  }
}

/** docker-archive: manifest.json. */
async function dockerCandidates(archive: ExtractedArchive): Promise<Candidate[]> {
  const manifest = parseJson<Array<{ Config?: string; RepoTags?: string[] | null; Layers?: string[] }>>(
    await archive.readSmall('manifest.json'),
    'manifest.json',
  );
  if (!Array.isArray(manifest) || manifest.length === 0) throw new ArchiveError('invalid archive: manifest.json lists no images');
  const out: Candidate[] = [];
  for (const m of manifest) {
    if (typeof m?.Config !== 'string' || !Array.isArray(m.Layers)) throw new ArchiveError('invalid archive: manifest.json entry without Config or Layers');
    const configBytes = await archive.readSmall(m.Config);
    const named = HEX_NAME.exec(m.Config);
    if (named && sha256(configBytes) !== `sha256:${named[1]}`) {
      throw new DigestMismatchError(`sha256:${named[1]}`, sha256(configBytes), `image config ${m.Config}`);
    }
    out.push({
      configBytes,
      layers: m.Layers.map((path) => {
        if (typeof path !== 'string') throw new ArchiveError('invalid archive: manifest.json has a non-string layer path');
        const hit = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(path.replace(/^\.\//, ''));
        return { path, rawDigest: hit ? `sha256:${hit[1]}` : undefined };
      }),
      refs: (m.RepoTags ?? []).map((t) => refOf(t, 'RepoTags entry')),
    });
  }
  return out;
}

/** OCI image layout: index.json (maybe nested indexes). */
async function ociCandidates(archive: ExtractedArchive): Promise<Candidate[]> {
  const readBlob = async (d: Descriptor, what: string): Promise<Buffer> => {
    if (!d || typeof d.digest !== 'string' || !isDigest(d.digest)) throw new ArchiveError(`invalid archive: ${what} has an unsupported digest`);
    const bytes = await archive.readSmall(`blobs/sha256/${d.digest.slice(7)}`);
    if (sha256(bytes) !== d.digest) throw new DigestMismatchError(d.digest, sha256(bytes), what);
    if (typeof d.size === 'number' && d.size !== bytes.length) {
      throw new DigestMismatchError(d.digest, `${bytes.length} bytes, expected ${d.size}`, `${what}: size`);
    }
    return bytes;
  };
  const index = parseJson<ImageIndex>(await archive.readSmall('index.json'), 'index.json');
  if (!Array.isArray(index?.manifests) || index.manifests.length === 0) throw new ArchiveError('invalid archive: index.json lists no manifests');
  const out: Candidate[] = [];
  const visit = async (d: Descriptor, names: string[], depth: number): Promise<void> => {
    if (depth > 4) throw new ArchiveError('invalid archive: indexes nested too deep');
    const annotations = d.annotations ?? {};
    const own = annotations['io.containerd.image.name'] ?? annotations['org.opencontainers.image.ref.name'];
    // A bare ref.name is a tag of nothing in particular (the OCI convention); only full names count.
    const named = own !== undefined && (annotations['io.containerd.image.name'] !== undefined || /[:/@]/.test(own)) ? [own] : [];
    const allNames = [...names, ...named];
    if (isIndexMediaType(d.mediaType)) {
      const nested = parseJson<ImageIndex>(await readBlob(d, `index ${d.digest}`), `index ${d.digest}`);
      const manifests = nested.manifests ?? [];
      const chosen = manifests.filter((m) => !m.platform || (m.platform.os === 'linux' && m.platform.architecture === 'amd64'));
      if (chosen.length === 0) throw new ArchiveError(`invalid archive: index ${d.digest} has no linux/amd64 image`);
      for (const m of chosen.slice(0, 1)) await visit(m, allNames, depth + 1);
      return;
    }
    const manifest = parseJson<ImageManifest>(await readBlob(d, `manifest ${d.digest}`), `manifest ${d.digest}`);
    if (!manifest.config || !Array.isArray(manifest.layers)) throw new ArchiveError(`invalid archive: manifest ${d.digest} has no config or layers`);
    const configBytes = await readBlob(manifest.config, `image config ${manifest.config.digest}`);
    out.push({
      configBytes,
      layers: manifest.layers.map((l) => {
        if (!isDigest(l.digest)) throw new ArchiveError(`invalid archive: layer with unsupported digest ${JSON.stringify(l.digest)}`);
        return { path: `blobs/sha256/${l.digest.slice(7)}`, rawDigest: l.digest };
      }),
      refs: allNames.map((n) => refOf(n, 'image name')),
    });
  };
  for (const d of index.manifests) await visit(d, [], 0);
  return out;
}

/** Hashes what passes through; `digest()` once it ended. */
function tap(source: Readable): { stream: Readable; digest: () => string } {
  const hash = createHash('sha256');
  const pt = new PassThrough({ highWaterMark: 1 << 20 });
  source.on('error', (err) => pt.destroy(err));
  source.on('data', (c: Buffer) => hash.update(c));
  source.pipe(pt);
  return { stream: pt, digest: () => 'sha256:' + hash.digest('hex') };
}

/** Layers of one image ingested at once. */
const LAYERS_AT_ONCE = 3;

export interface LoadResult {
  /** docker's stream lines, in order ("Loaded image: busybox:latest"). */
  messages: string[];
  ids: string[];
}

export async function loadImages(deps: LoadDeps, source: Readable): Promise<LoadResult> {
  const tmpDir = join(deps.dataRoot, 'tmp');
  const ingestDeps: IngestDeps = { content: deps.content, snapshots: deps.snapshots, tmpDir };
  const archive = await ExtractedArchive.read(source, tmpDir);
  const tracker = new LayerTracker();
  const release = deps.images.hold(tracker.uses);
  try {
    let candidates: Candidate[];
    if (archive.has('manifest.json')) candidates = await dockerCandidates(archive);
    else if (archive.has('index.json')) candidates = await ociCandidates(archive);
    else throw new ArchiveError('invalid archive: neither manifest.json nor index.json found (not a docker save or OCI archive)');

    const stored: Array<{ id: string; manifestDigest: string; layers: IngestedLayer[]; created: string; refs: ImageReference[] }> = [];
    for (const c of candidates) {
      const config = parseImageConfig(c.configBytes, 'image config');
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== c.layers.length) {
        throw new ArchiveError(`invalid archive: the image config lists ${diffIds.length} layers but the archive has ${c.layers.length}`);
      }
      for (const d of diffIds) if (!isDigest(d)) throw new ArchiveError(`invalid archive: unsupported diff_id ${JSON.stringify(d)}`);
      const chains = chainIds(diffIds);
      const ingestOne = async (i: number): Promise<IngestedLayer> => {
        const { path, rawDigest } = c.layers[i];
        // An uncompressed layer named by its diff ID is checked by the ingest itself, straight
        // from its temp file; a blob named by another digest (compressed) is hashed on the way.
        if (!rawDigest || rawDigest === diffIds[i]) return ingestLayerFile(ingestDeps, archive.filePath(path), diffIds[i]!, chains[i]!, tracker);
        const { stream } = archive.open(path);
        const check = tap(stream);
        const layer = await ingestLayer(ingestDeps, check.stream, diffIds[i]!, chains[i]!, tracker);
        if (check.digest() !== rawDigest) throw new DigestMismatchError(rawDigest, check.digest(), `layer ${path}`);
        return layer;
      };
      // Layers are independent (their chain IDs are known): a few at once overlap one layer's
      // fsync and hashing with the next one's unpacking. A member used twice waits for its first
      // use, which moves the file into the content store.
      const limiter = new Limiter(LAYERS_AT_ONCE);
      const byPath = new Map<string, Promise<unknown>>();
      const settled = await Promise.allSettled(
        c.layers.map((l, i) => {
          const before = byPath.get(l.path);
          const run = (async () => {
            if (before) await before.catch(() => undefined);
            const release = await limiter.acquire();
            try {
              return await ingestOne(i);
            } finally {
              release();
            }
          })();
          byPath.set(l.path, run);
          return run;
        }),
      );
      // Every ingest has stopped before a failure rolls back what they made.
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const layers = settled.map((r) => (r as PromiseFulfilledResult<IngestedLayer>).value);
      const blobs = await storeImageBlobs(deps.content, c.configBytes, layers, tracker);
      stored.push({ id: blobs.configDigest, manifestDigest: blobs.manifestDigest, layers, created: config.created ?? '', refs: c.refs });
    }

    // Everything is in: record the images and move the tags, docker's messages as it goes.
    const messages: string[] = [];
    for (const s of stored) {
      const previous = s.refs.map((r) => deps.images.resolveId(canonicalString(r)));
      deps.images.add({
        id: s.id,
        repoDigests: [],
        manifestDigest: s.manifestDigest,
        manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
        chainIds: s.layers.map((l) => l.chainId),
        diffIds: s.layers.map((l) => l.diffId),
        size: s.layers.reduce((sum, l) => sum + l.size, 0),
        created: s.created,
        addedAt: Date.now(),
      });
      s.refs.forEach((ref, i) => {
        const shown = familiarString(ref);
        const old = previous[i];
        if (old && old !== s.id) messages.push(`The image ${shown} already exists, renaming the old one with ID ${old} to empty string`);
        deps.images.tag(s.id, canonicalString(ref));
        messages.push(`Loaded image: ${shown}`);
      });
      if (s.refs.length === 0) messages.push(`Loaded image ID: ${s.id}`);
    }
    return { messages, ids: stored.map((s) => s.id) };
  } catch (err) {
    release();
    await tracker.rollback(ingestDeps, deps.images.liveRefs());
    throw err;
  } finally {
    release();
    await archive.dispose();
  }
}
