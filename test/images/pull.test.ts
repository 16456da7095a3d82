// pullImage against an in-memory RegistryClient (the real client is tested in test/registry).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import { pullImage, shortId, type PullProgress } from '../../src/images/pull.js';
import { SnapshotStore } from '../../src/images/snapshots.js';
import { MediaType, type Descriptor, type ImageConfig, type ImageManifest } from '../../src/images/oci.js';
import type { ImageReference, RegistryClient, ResolvedImage } from '../../src/registry/types.js';
import { ContentStore } from '../../src/store/content.js';
import { chainIds, sha256Digest } from '../../src/util/digest.js';
import { DigestMismatchError } from '../../src/util/errors.js';
import { buildTar, cleanup, tempDir, type TarEntrySpec } from './tar-helpers.js';

interface FakeLayer {
  entries: TarEntrySpec[];
  compression?: 'gzip' | 'zstd' | 'none';
  /** Serve these bytes instead of the real blob (a lying registry). */
  tamper?: (blob: Buffer) => Buffer;
  /** Claim this diff_id in the config instead of the real one. */
  fakeDiffId?: string;
}

class FakeRegistry implements RegistryClient {
  readonly fetches = new Map<string, number>();
  readonly blobs = new Map<string, Buffer>();
  private readonly images = new Map<string, ResolvedImage>();
  delayMs = 0;

  async add(tag: string, layers: FakeLayer[]): Promise<ResolvedImage> {
    const descs: Descriptor[] = [];
    const diffIds: string[] = [];
    for (const l of layers) {
      const tar = await buildTar(l.entries);
      const compression = l.compression ?? 'gzip';
      const blob = compression === 'gzip' ? zlib.gzipSync(tar) : compression === 'zstd' ? zstdCompress(tar) : tar;
      const digest = sha256Digest(blob);
      this.blobs.set(digest, l.tamper ? l.tamper(blob) : blob);
      descs.push({
        mediaType: compression === 'gzip' ? MediaType.ociLayerGzip : compression === 'zstd' ? MediaType.ociLayerZstd : MediaType.ociLayer,
        digest,
        size: blob.length,
      });
      diffIds.push(l.fakeDiffId ?? sha256Digest(tar));
    }
    const config: ImageConfig = {
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'], Env: [`TAG=${tag}`] },
      rootfs: { type: 'layers', diff_ids: diffIds },
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDescriptor = { mediaType: MediaType.ociConfig, digest: sha256Digest(configBytes), size: configBytes.length };
    const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDescriptor, layers: descs };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const manifestDigest = sha256Digest(manifestBytes);
    const ref: ImageReference = { domain: 'registry.test', path: 'library/x', tag };
    const resolved: ResolvedImage = {
      ref,
      repoDigest: manifestDigest,
      manifestDigest,
      manifestMediaType: MediaType.ociManifest,
      manifestBytes,
      manifest,
      configDescriptor,
      configBytes,
      config,
      endpoint: 'https://registry.test',
    };
    this.images.set(tag, resolved);
    return resolved;
  }

  async resolve(ref: ImageReference): Promise<ResolvedImage> {
    const img = this.images.get(ref.tag ?? 'latest');
    if (!img) throw new Error('manifest unknown');
    return img;
  }

  async fetchBlob(_image: ResolvedImage, descriptor: Descriptor): Promise<Readable> {
    this.fetches.set(descriptor.digest, (this.fetches.get(descriptor.digest) ?? 0) + 1);
    const blob = this.blobs.get(descriptor.digest);
    if (!blob) throw new Error('blob unknown');
    const delay = this.delayMs;
    // Small chunks with pauses: concurrent pulls really overlap.
    async function* gen() {
      for (let off = 0; off < blob!.length; off += 4096) {
        if (delay) await new Promise((r) => setTimeout(r, delay));
        yield blob!.subarray(off, off + 4096);
      }
    }
    return Readable.from(gen(), { objectMode: false });
  }
}

const ref = (tag: string): ImageReference => ({ domain: 'registry.test', path: 'library/x', tag });

describe('pullImage', () => {
  let root: string;
  let n = 0;
  before(() => {
    root = tempDir('pull');
  });
  after(() => cleanup(root));

  function stores() {
    const dir = join(root, `store-${n++}`);
    const content = new ContentStore(dir);
    const snapshots = new SnapshotStore(dir, { durable: false });
    return { dir, content, snapshots };
  }

  const base: TarEntrySpec[] = [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/sh', content: Buffer.alloc(200_000, 'sh'), mode: 0o755 },
    { name: 'etc/', type: 'directory' },
    { name: 'etc/motd', content: 'hello' },
  ];
  const top: TarEntrySpec[] = [
    { name: 'etc/', type: 'directory' },
    { name: 'etc/.wh.motd' },
    { name: 'app/', type: 'directory' },
    { name: 'app/run', content: 'run', mode: 0o755 },
  ];

  it('pulls an image: blobs stored, one snapshot per chain, docker-style progress', async () => {
    const registry = new FakeRegistry();
    const img = await registry.add('v1', [{ entries: base }, { entries: top, compression: 'zstd' }, { entries: [{ name: 'raw', content: 'r' }], compression: 'none' }]);
    const { content, snapshots } = stores();
    const events: PullProgress[] = [];
    const pulled = await pullImage({ registry, content, snapshots }, ref('v1'), { onProgress: (e) => events.push(e) });

    assert.equal(pulled.id, img.configDescriptor.digest);
    assert.equal(pulled.repoDigest, img.repoDigest);
    assert.equal(pulled.manifestDigest, img.manifestDigest);
    assert.equal(pulled.manifestMediaType, MediaType.ociManifest);
    assert.deepEqual(pulled.configBytes, img.configBytes);
    const chains = chainIds(img.config.rootfs.diff_ids);
    assert.deepEqual(pulled.layers.map((l) => l.chainId), chains);
    assert.deepEqual(pulled.layers.map((l) => l.diffId), img.config.rootfs.diff_ids);
    assert.deepEqual(pulled.layers.map((l) => l.size), [200_005, 3, 1]);

    assert.ok(content.has(img.manifestDigest));
    assert.ok(content.has(img.configDescriptor.digest));
    for (const l of img.manifest.layers) assert.ok(content.has(l.digest));
    for (const c of chains) assert.ok(snapshots.has(c));
    assert.equal(fs.readFileSync(join(snapshots.diffPath(chains[0]), 'etc/motd'), 'utf8'), 'hello');
    assert.equal(fs.lstatSync(join(snapshots.diffPath(chains[1]), 'etc/motd')).isCharacterDevice(), true);

    for (const l of img.manifest.layers) {
      const mine = events.filter((e) => e.id === shortId(l.digest)).map((e) => e.status);
      assert.equal(mine[0], 'Pulling fs layer');
      assert.equal(mine[mine.length - 1], 'Pull complete');
      for (const s of ['Downloading', 'Verifying Checksum', 'Download complete', 'Extracting']) assert.ok(mine.includes(s as never), `${s} in ${mine}`);
      const dl = events.filter((e) => e.id === shortId(l.digest) && e.status === 'Downloading');
      assert.equal(dl[dl.length - 1].progressDetail?.current, l.size);
      assert.equal(dl[dl.length - 1].progressDetail?.total, l.size);
    }

    // Pulling again: everything already exists, nothing fetched, and (as docker) no layer lines.
    const before = [...registry.fetches.values()].reduce((a, b) => a + b, 0);
    const events2: PullProgress[] = [];
    const again = await pullImage({ registry, content, snapshots }, ref('v1'), { onProgress: (e) => events2.push(e) });
    assert.deepEqual(events2.map((e) => e.status), []);
    assert.deepEqual(again.layers.map((l) => l.size), [200_005, 3, 1]);
    assert.equal([...registry.fetches.values()].reduce((a, b) => a + b, 0), before);
  });

  it('unpacks from the local blob when only the snapshot is missing', async () => {
    const registry = new FakeRegistry();
    const img = await registry.add('v1', [{ entries: base }]);
    const { content, snapshots } = stores();
    await pullImage({ registry, content, snapshots }, ref('v1'));
    const chain = chainIds(img.config.rootfs.diff_ids)[0];
    await snapshots.remove(chain);
    const events: PullProgress[] = [];
    await pullImage({ registry, content, snapshots }, ref('v1'), { onProgress: (e) => events.push(e) });
    assert.equal(registry.fetches.get(img.manifest.layers[0].digest), 1, 'not fetched again');
    assert.ok(snapshots.has(chain));
    assert.ok(events.some((e) => e.status === 'Extracting'));
    assert.equal(events[events.length - 1].status, 'Pull complete');
  });

  it('fails on a corrupted blob (gzip CRC broken): no snapshot, no blob', async () => {
    const registry = new FakeRegistry();
    const img = await registry.add('bad', [
      { entries: base },
      {
        entries: top,
        // Same length, one byte changed inside the compressed stream's trailer (CRC): still a valid
        // tar up to the end, so only the digest check can catch it.
        tamper: (b) => {
          const c = Buffer.from(b);
          c[c.length - 6] ^= 0xff;
          return c;
        },
      },
    ]);
    const { dir, content, snapshots } = stores();
    await assert.rejects(pullImage({ registry, content, snapshots }, ref('bad')), (err: unknown) => err instanceof Error);
    const bad = img.manifest.layers[1];
    const chains = chainIds(img.config.rootfs.diff_ids);
    assert.equal(content.has(bad.digest), false, 'tampered blob not committed');
    assert.equal(snapshots.has(chains[1]), false, 'no snapshot for the tampered layer');
    assert.deepEqual(fs.readdirSync(join(dir, 'snapshots')).filter((d) => d.startsWith('tmp-')), []);
    assert.deepEqual(fs.readdirSync(join(dir, 'content', 'ingest')), []);
  });

  it('fails with DigestMismatchError when a blob decompresses fine but has other bytes', async () => {
    const registry = new FakeRegistry();
    const other = zlib.gzipSync(await buildTar([{ name: 'evil', content: 'substituted' }]));
    const img = await registry.add('swap', [{ entries: base, tamper: () => other }]);
    const { content, snapshots } = stores();
    await assert.rejects(pullImage({ registry, content, snapshots }, ref('swap')), DigestMismatchError);
    assert.equal(content.has(img.manifest.layers[0].digest), false);
    assert.equal(snapshots.has(chainIds(img.config.rootfs.diff_ids)[0]), false);
  });

  it('fails with DigestMismatchError on a diff_id mismatch: no snapshot, no blob', async () => {
    const registry = new FakeRegistry();
    const img = await registry.add('diffid', [{ entries: base, fakeDiffId: sha256Digest('not this tar') }]);
    const { dir, content, snapshots } = stores();
    await assert.rejects(pullImage({ registry, content, snapshots }, ref('diffid')), (err: unknown) => {
      assert.ok(err instanceof DigestMismatchError);
      assert.match(err.message, /diff_id/);
      return true;
    });
    assert.equal(content.has(img.manifest.layers[0].digest), false);
    assert.deepEqual(await snapshots.list(), []);
    assert.deepEqual(fs.readdirSync(join(dir, 'snapshots')), []);
  });

  it('refuses a hostile layer without writing outside, and commits nothing', async () => {
    const registry = new FakeRegistry();
    const outside = join(root, `outside-${n}`);
    fs.mkdirSync(outside);
    const img = await registry.add('hostile', [
      { entries: [{ name: 'evil', type: 'symlink', linkname: outside }, { name: 'evil/pwned', content: 'x' }] },
    ]);
    const { content, snapshots } = stores();
    await assert.rejects(pullImage({ registry, content, snapshots }, ref('hostile')), /symbolic link/);
    assert.deepEqual(fs.readdirSync(outside), []);
    assert.equal(content.has(img.manifest.layers[0].digest), false);
    assert.deepEqual(await snapshots.list(), []);
  });

  it('two concurrent pulls of one image fetch each blob once', async () => {
    const registry = new FakeRegistry();
    registry.delayMs = 1;
    const img = await registry.add('v1', [{ entries: base }, { entries: top }]);
    const { content, snapshots } = stores();
    const ev1: PullProgress[] = [];
    const ev2: PullProgress[] = [];
    const [a, b] = await Promise.all([
      pullImage({ registry, content, snapshots }, ref('v1'), { onProgress: (e) => ev1.push(e) }),
      pullImage({ registry, content, snapshots }, ref('v1'), { onProgress: (e) => ev2.push(e) }),
    ]);
    for (const l of img.manifest.layers) assert.equal(registry.fetches.get(l.digest), 1, `${l.digest} fetched once`);
    assert.deepEqual(a.layers, b.layers);
    for (const ev of [ev1, ev2]) {
      for (const l of img.manifest.layers) {
        const mine = ev.filter((e) => e.id === shortId(l.digest));
        assert.equal(mine[mine.length - 1].status, 'Pull complete');
      }
    }
  });

  it('one blob used by two chains (two images) is fetched once', async () => {
    const registry = new FakeRegistry();
    registry.delayMs = 1;
    const shared: FakeLayer = { entries: top };
    const imgA = await registry.add('a', [{ entries: base }, shared]);
    const imgB = await registry.add('b', [{ entries: [{ name: 'other', content: 'o' }] }, shared]);
    assert.equal(imgA.manifest.layers[1].digest, imgB.manifest.layers[1].digest);
    const { content, snapshots } = stores();
    await Promise.all([
      pullImage({ registry, content, snapshots }, ref('a')),
      pullImage({ registry, content, snapshots }, ref('b')),
    ]);
    assert.equal(registry.fetches.get(imgA.manifest.layers[1].digest), 1);
    assert.equal((await snapshots.list()).length, 4);
  });

  it('limits concurrent downloads to 3 and reports Waiting for the rest', async () => {
    const registry = new FakeRegistry();
    registry.delayMs = 2;
    const layers = Array.from({ length: 5 }, (_, i) => ({ entries: [{ name: `f${i}`, content: Buffer.alloc(20_000, i) }], compression: 'none' as const }));
    const img = await registry.add('many', layers);
    let active = 0;
    let peak = 0;
    const orig = registry.fetchBlob.bind(registry);
    registry.fetchBlob = async (image, desc) => {
      const s = await orig(image, desc);
      active++;
      peak = Math.max(peak, active);
      s.once('end', () => active--);
      return s;
    };
    const { content, snapshots } = stores();
    const events: PullProgress[] = [];
    await pullImage({ registry, content, snapshots }, ref('many'), { onProgress: (e) => events.push(e) });
    assert.ok(peak <= 3, `peak ${peak}`);
    assert.equal(events.filter((e) => e.status === 'Waiting').length, 2);
    assert.equal(events.filter((e) => e.status === 'Pull complete').length, img.manifest.layers.length);
  });

  it('a pull cancelled before its layers start fetches and unpacks nothing', async () => {
    const registry = new FakeRegistry();
    const img = await registry.add('early', [{ entries: base }]);
    const { dir, content, snapshots } = stores();
    const ac = new AbortController();
    ac.abort(new Error('client went away'));
    await assert.rejects(pullImage({ registry, content, snapshots }, ref('early'), { signal: ac.signal }), /client went away/);
    // Give a stray job (the bug this guards against) time to run: it would fetch and unpack.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(registry.fetches.get(img.manifest.layers[0].digest) ?? 0, 0);
    assert.deepEqual(await snapshots.list(), []);
    assert.deepEqual(fs.readdirSync(join(dir, 'snapshots')), []);
  });

  it('aborts when the signal fires, leaving nothing half-made', async () => {
    const registry = new FakeRegistry();
    registry.delayMs = 5;
    await registry.add('slow', [{ entries: base, compression: 'none' }]);
    const { dir, content, snapshots } = stores();
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('client went away')), 30);
    await assert.rejects(pullImage({ registry, content, snapshots }, ref('slow'), { signal: ac.signal }), /client went away/);
    // The shared job finishes tearing down just after the pull rejects.
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await snapshots.list(), []);
    assert.deepEqual(fs.readdirSync(join(dir, 'snapshots')), []);
    assert.deepEqual(fs.readdirSync(join(dir, 'content', 'ingest')), []);
  });
});
