// Pulls that go wrong, and pulls of every manifest and layer format, against a real registry.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { after, before, describe, test } from 'node:test';
import {
  corruptBlob,
  pushBenchImage,
  pushBusybox,
  pushManifestList,
  pushMultiLayer,
  pushOciImage,
  pushZstdImage,
} from '../fixtures/images.js';
import type { RunningRegistry } from '../fixtures/registry.js';
import { REPO_ROOT, startStack, type TestDaemon } from './harness.js';

/** Push a one-layer image with random content via skopeo; returns the layer's digest. */
async function pushUniqueImage(host: string, repo: string, tag: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-unique-'));
  try {
    const pack = tar.pack();
    pack.entry({ name: 'random.bin', mode: 0o644 }, randomBytes(64 * 1024));
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
    const layerTar = Buffer.concat(chunks);
    const layer = gzipSync(layerTar);
    const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/random.bin'] }, rootfs: { type: 'layers', diff_ids: [sha(layerTar)] } }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length }],
    }));
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    for (const b of [layer, config, manifest]) writeFileSync(join(dir, 'blobs', 'sha256', sha(b).slice(7)), b);
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(dir, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }));
    const r = spawnSync('skopeo', ['copy', '--dest-tls-verify=false', `oci:${dir}:${tag}`, `docker://${host}/${repo}:${tag}`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`skopeo copy failed: ${r.stderr}`);
    return sha(layer);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe('pulling through berthd', () => {
  let registry: RunningRegistry;
  let daemon: TestDaemon;

  let stack: Awaited<ReturnType<typeof startStack>> | undefined;

  before(async () => {
    stack = await startStack({ mirror: false });
    ({ registry, daemon } = stack);
  });

  after(async () => {
    await stack?.stop();
  });

  test('multi-layer image with whiteouts and an opaque dir runs with the merged view', async () => {
    await pushMultiLayer(registry.host, 'test/multilayer', 'v1');
    const ref = `${registry.host}/test/multilayer:v1`;
    const pull = await daemon.docker(['pull', ref]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, /Pull complete/);
    const inspect = await daemon.docker(['image', 'inspect', ref, '--format', '{{len .RootFS.Layers}}']);
    assert.equal(Number(inspect.stdout.trim()), 3);
  });

  test('OCI manifests, manifest lists (linux/amd64 is chosen) and zstd layers', async () => {
    await pushBusybox(registry.host, 'test/busybox', 'latest');
    await pushOciImage(registry.host, 'test/oci', 'v1');
    await pushManifestList(registry.host, 'test/multiarch', 'v1');
    await pushZstdImage(registry.host, 'test/zstd', 'v1');
    for (const name of ['test/oci:v1', 'test/multiarch:v1', 'test/zstd:v1']) {
      const r = await daemon.docker(['pull', `${registry.host}/${name}`]);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    }
    const arch = await daemon.docker(['image', 'inspect', `${registry.host}/test/multiarch:v1`, '--format', '{{.Architecture}}']);
    assert.equal(arch.stdout.trim(), 'amd64');
  });

  test('a blob whose content does not match its digest fails the pull and leaves nothing', async () => {
    // A layer no other image shares, so the corruption hits only this pull.
    const layerDigest = await pushUniqueImage(registry.host, 'test/tampered', 'latest');
    await corruptBlob(registry, layerDigest);
    const snapshotsBefore = listDir(join(daemon.dataRoot, 'snapshots'));
    const r = await daemon.docker(['pull', `${registry.host}/test/tampered:latest`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr + r.stdout, /digest mismatch|does not match|unexpected EOF|checksum/i);
    const images = await daemon.docker(['images', '--format', '{{.Repository}}']);
    assert.doesNotMatch(images.stdout, /test\/tampered/);
    assert.equal(existsSync(join(daemon.dataRoot, 'content', 'blobs', 'sha256', layerDigest.slice(7))), false, 'no blob stored');
    assert.deepEqual(listDir(join(daemon.dataRoot, 'snapshots')).filter((n) => n.startsWith('tmp-')), [], 'no half snapshot');
    assert.deepEqual(listDir(join(daemon.dataRoot, 'snapshots')).sort(), snapshotsBefore.sort(), 'no new snapshot');
    const stillWorks = await daemon.docker(['run', '--rm', `${registry.host}/test/busybox:latest`, 'echo', 'ok']);
    assert.equal(stillWorks.stdout, 'ok\n', stillWorks.stderr);
  });

  test('a registry that is down gets a clear error', async () => {
    const r = await daemon.docker(['pull', '127.0.0.1:1/nothing/here:latest']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /connection refused/);
  });

  test('kill -9 during a pull: after a restart the store is consistent and the pull works', async () => {
    await pushBenchImage(registry.host, 'bench/multilayer', 'latest', join(REPO_ROOT, '.tmp', 'bench-cache'));
    const ref = `${registry.host}/bench/multilayer:latest`;
    const pulling = daemon.docker(['pull', ref]);
    await new Promise((r) => setTimeout(r, 700));
    daemon.kill9();
    await pulling;
    await daemon.start();
    const images = await daemon.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.equal(images.code, 0, images.stderr);
    assert.deepEqual(listDir(join(daemon.dataRoot, 'snapshots')).filter((n) => n.startsWith('tmp-')), []);
    assert.deepEqual(listDir(join(daemon.dataRoot, 'content', 'ingest')), []);
    const again = await daemon.docker(['pull', ref]);
    assert.equal(again.code, 0, again.stderr);
    const listed = await daemon.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.match(listed.stdout, /bench\/multilayer:latest/);
  });
});
