// Helpers shared by the push and login end-to-end files: skopeo's view of a pushed tag, and
// images of random (incompressible) layers.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { registryCertDirs, registryCredentials } from '../fixtures/registry.js';

const execFileAsync = promisify(execFile);

/** What skopeo reads back: the manifest digest of a pushed tag. */
export async function skopeoDigest(ref: string): Promise<string> {
  const host = ref.slice(0, ref.indexOf('/'));
  const args = ['inspect', '--tls-verify=false', '--raw'];
  const creds = registryCredentials.get(host);
  if (creds) args.push('--creds', `${creds.username}:${creds.password}`);
  const certDir = registryCertDirs.get(host);
  if (certDir) args.push('--cert-dir', certDir);
  const { stdout } = await execFileAsync('skopeo', [...args, `docker://${ref}`], { maxBuffer: 16 << 20 });
  const digestArgs = ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', ...args.slice(3), `docker://${ref}`];
  const { stdout: d } = await execFileAsync('skopeo', digestArgs);
  assert.equal(d.trim(), `sha256:${createHash('sha256').update(stdout).digest('hex')}`, 'skopeo digest = sha256 of the raw manifest');
  return d.trim();
}

/** An OCI image of `layers` random (incompressible) layers of `size` bytes each, pushed with skopeo. */
export async function pushRandomImage(host: string, repo: string, tag: string, layers: number, size: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-random-'));
  try {
    const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const blobs: Buffer[] = [];
    const diffIds: string[] = [];
    const descs: Array<{ mediaType: string; digest: string; size: number }> = [];
    for (let i = 0; i < layers; i++) {
      const pack = tar.pack();
      pack.entry({ name: `layer${i}.bin`, mode: 0o644 }, randomBytes(size));
      pack.finalize();
      const chunks: Buffer[] = [];
      for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
      const layerTar = Buffer.concat(chunks);
      const gz = gzipSync(layerTar, { level: 1 });
      blobs.push(gz);
      diffIds.push(sha(layerTar));
      descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(gz), size: gz.length });
    }
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/layer0.bin'] }, rootfs: { type: 'layers', diff_ids: diffIds } }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: descs,
    }));
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    for (const b of [...blobs, config, manifest]) writeFileSync(join(dir, 'blobs', 'sha256', sha(b).slice(7)), b);
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(dir, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }));
    const args = ['--insecure-policy', 'copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false'];
    const creds = registryCredentials.get(host);
    if (creds) args.push('--dest-creds', `${creds.username}:${creds.password}`);
    await execFileAsync('skopeo', [...args, `oci:${dir}:${tag}`, `docker://${host}/${repo}:${tag}`]);
    return sha(manifest);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

