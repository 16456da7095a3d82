// The registry client against real registries (Debian's docker-registry) from test/fixtures.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createRegistryClient, parseChallenge } from '../../src/registry/client.js';
import { parseReference } from '../../src/registry/reference.js';
import type { RegistryClient } from '../../src/registry/types.js';
import { DigestMismatchError, NotFoundError, SystemError, UnauthorizedError } from '../../src/util/errors.js';
import { MediaType } from '../../src/images/oci.js';
import {
  corruptBlob,
  pushBusybox,
  pushManifestList,
  pushMultiLayer,
  pushOciImage,
  pushZstdImage,
  type PushedImage,
} from '../fixtures/images.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';

async function deadPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

// dockerHubOrigin: null — tests never leave loopback, even when every mirror fails.
function client(mirrors: string[] = []): RegistryClient {
  return createRegistryClient({ mirrors, insecureRegistries: [], dockerHubOrigin: null });
}

async function sha256OfStream(s: AsyncIterable<Buffer>): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of s) {
    h.update(c);
    size += c.length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

function rejectsWith<T extends Error>(p: Promise<unknown>, cls: new (...a: never[]) => T, message: string | RegExp): Promise<void> {
  return assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    if (typeof message === 'string') assert.equal((err as Error).message, message);
    else assert.match((err as Error).message, message);
    return true;
  });
}

describe('registry client: open registry', () => {
  let reg: RunningRegistry;
  let busybox: PushedImage;
  let oci: PushedImage;
  let list: PushedImage;
  let zstdImg: PushedImage;
  let multi: PushedImage;

  before(async () => {
    reg = await startRegistry();
    [busybox, oci, list, zstdImg, multi] = await Promise.all([
      pushBusybox(reg.host),
      pushOciImage(reg.host, 'test/oci', 'v1'),
      pushManifestList(reg.host, 'test/multiarch', 'v1'),
      pushZstdImage(reg.host, 'test/zstd', 'v1'),
      pushMultiLayer(reg.host, 'test/multilayer', 'v1'),
    ]);
  });
  after(async () => {
    await reg?.stop();
  });

  test('resolves a Docker schema2 image and streams a verifiable blob', async () => {
    const c = client();
    const img = await c.resolve(parseReference(busybox.ref));
    assert.equal(img.manifestMediaType, MediaType.dockerManifest);
    assert.equal(img.repoDigest, busybox.digest);
    assert.equal(img.manifestDigest, busybox.digest);
    assert.equal(img.endpoint, reg.url);
    assert.equal(img.config.architecture, 'amd64');
    assert.deepEqual(img.config.config?.Cmd, ['sh']);
    assert.equal(img.manifest.layers.length, 1);
    assert.equal(createHash('sha256').update(img.configBytes).digest('hex'), img.configDescriptor.digest.slice(7));
    const layer = img.manifest.layers[0];
    const got = await sha256OfStream(await c.fetchBlob(img, layer));
    assert.deepEqual(got, { digest: layer.digest, size: layer.size });
  });

  test('resolves by digest, and tag+digest', async () => {
    const byDigest = await client().resolve(parseReference(`${reg.host}/library/busybox@${busybox.digest}`));
    assert.equal(byDigest.manifestDigest, busybox.digest);
    const both = await client().resolve(parseReference(`${reg.host}/library/busybox:latest@${busybox.digest}`));
    assert.equal(both.repoDigest, busybox.digest);
  });

  test('resolves an OCI manifest', async () => {
    const img = await client().resolve(parseReference(oci.ref));
    assert.equal(img.manifestMediaType, MediaType.ociManifest);
    assert.equal(img.repoDigest, oci.digest);
    assert.equal(img.manifest.layers[0].mediaType, MediaType.ociLayerGzip);
  });

  test('resolves a zstd image', async () => {
    const c = client();
    const img = await c.resolve(parseReference(zstdImg.ref));
    assert.equal(img.manifest.layers[0].mediaType, MediaType.ociLayerZstd);
    const got = await sha256OfStream(await c.fetchBlob(img, img.manifest.layers[0]));
    assert.equal(got.digest, img.manifest.layers[0].digest);
  });

  test('a manifest list resolves to linux/amd64, or the platform asked for', async () => {
    const c = client();
    const img = await c.resolve(parseReference(list.ref));
    assert.equal(img.repoDigest, list.digest);
    assert.notEqual(img.manifestDigest, list.digest);
    assert.equal(img.config.architecture, 'amd64');
    const arm = await c.resolve(parseReference(list.ref), { platform: { os: 'linux', architecture: 'arm64' } });
    assert.equal(arm.config.architecture, 'arm64');
    assert.equal(arm.repoDigest, list.digest);
    await rejectsWith(
      c.resolve(parseReference(list.ref), { platform: { os: 'linux', architecture: 's390x' } }),
      NotFoundError,
      'no matching manifest for linux/s390x in the manifest list entries',
    );
  });

  test('unknown tag and unknown repository get docker wording', async () => {
    await rejectsWith(
      client().resolve(parseReference(`${reg.host}/library/busybox:nope`)),
      NotFoundError,
      `manifest for ${reg.host}/library/busybox:nope not found: manifest unknown: manifest unknown`,
    );
    // distribution answers MANIFEST_UNKNOWN for unknown repositories too; docker says the same.
    await rejectsWith(
      client().resolve(parseReference(`${reg.host}/no/such-repo:latest`)),
      NotFoundError,
      `manifest for ${reg.host}/no/such-repo:latest not found: manifest unknown: manifest unknown`,
    );
  });

  test('a registry that is down gets docker wording', async () => {
    const port = await deadPort();
    await rejectsWith(
      client().resolve(parseReference(`127.0.0.1:${port}/x/y:latest`)),
      SystemError,
      `Get "http://127.0.0.1:${port}/v2/": dial tcp 127.0.0.1:${port}: connect: connection refused`,
    );
  });

  test('mirrors: a dead mirror falls back to the next one for docker.io refs', async () => {
    const port = await deadPort();
    const c = client([`http://127.0.0.1:${port}`, reg.url]);
    const img = await c.resolve(parseReference('docker.io/library/busybox'));
    assert.equal(img.endpoint, reg.url);
    assert.equal(img.repoDigest, busybox.digest);
    const got = await sha256OfStream(await c.fetchBlob(img, img.manifest.layers[0]));
    assert.equal(got.digest, img.manifest.layers[0].digest);
  });

  test('mirrors: a mirror without the image (404) falls back too', async () => {
    const empty = await startRegistry();
    try {
      const img = await client([empty.host, reg.url]).resolve(parseReference('busybox:latest'));
      assert.equal(img.endpoint, reg.url);
    } finally {
      await empty.stop();
    }
  });

  test('several blobs stream in parallel', async () => {
    const c = client();
    const imgs = await Promise.all([busybox, oci, zstdImg, multi].map((p) => c.resolve(parseReference(p.ref))));
    const descs = imgs.flatMap((img) => img.manifest.layers.map((l) => ({ img, l })));
    const results = await Promise.all(descs.map(async ({ img, l }) => (await sha256OfStream(await c.fetchBlob(img, l))).digest));
    assert.deepEqual(results, descs.map(({ l }) => l.digest));
  });

  test('a config blob whose bytes do not match its digest is rejected', async () => {
    const img = await client().resolve(parseReference(multi.ref));
    await corruptBlob(reg, img.configDescriptor.digest);
    await assert.rejects(client().resolve(parseReference(multi.ref)), DigestMismatchError);
  });

  test('mirrors: when every endpoint fails, a mirror\'s "manifest unknown" beats an unreachable origin', async () => {
    const port = await deadPort();
    const c = createRegistryClient({ mirrors: [reg.url], insecureRegistries: [], dockerHubOrigin: `http://127.0.0.1:${port}` });
    await rejectsWith(c.resolve(parseReference('busybox:no-such-tag')), NotFoundError, 'manifest for busybox:no-such-tag not found: manifest unknown: manifest unknown');
  });
});

describe('registry client: authentication', () => {
  let basic: RunningRegistry;
  let token: RunningRegistry;
  let basicImg: PushedImage;
  let tokenImg: PushedImage;

  before(async () => {
    [basic, token] = await Promise.all([startRegistry({ auth: 'basic' }), startRegistry({ auth: 'token' })]);
    [basicImg, tokenImg] = await Promise.all([pushBusybox(basic.host, 'private/busybox'), pushBusybox(token.host, 'private/busybox')]);
  });
  after(async () => {
    await basic?.stop();
    await token?.stop();
  });

  test('basic: good credentials', async () => {
    const c = client();
    const auth = { username: basic.username, password: basic.password };
    const img = await c.resolve(parseReference(basicImg.ref), { auth });
    assert.equal(img.repoDigest, basicImg.digest);
    const got = await sha256OfStream(await c.fetchBlob(img, img.manifest.layers[0], { auth }));
    assert.equal(got.digest, img.manifest.layers[0].digest);
  });

  test('basic: wrong password and no credentials', async () => {
    await rejectsWith(
      client().resolve(parseReference(basicImg.ref), { auth: { username: basic.username, password: 'wrong' } }),
      UnauthorizedError,
      `Get "${basic.url}/v2/": unauthorized: incorrect username or password`,
    );
    await rejectsWith(client().resolve(parseReference(basicImg.ref)), UnauthorizedError, /no basic auth credentials/);
  });

  test('bearer: token flow with good credentials, cached per scope', async () => {
    const c = client();
    const auth = { username: token.username, password: token.password };
    const img = await c.resolve(parseReference(tokenImg.ref), { auth });
    assert.equal(img.repoDigest, tokenImg.digest);
    const got = await sha256OfStream(await c.fetchBlob(img, img.manifest.layers[0], { auth }));
    assert.equal(got.digest, img.manifest.layers[0].digest);
    // Second resolve reuses the token.
    const again = await c.resolve(parseReference(tokenImg.ref), { auth });
    assert.equal(again.manifestDigest, img.manifestDigest);
  });

  test('bearer: wrong password is unauthorized, anonymous is pull access denied', async () => {
    await rejectsWith(
      client().resolve(parseReference(tokenImg.ref), { auth: { username: token.username, password: 'nope' } }),
      UnauthorizedError,
      /^Get "http:\/\/127\.0\.0\.1:\d+\/token\?.*": unauthorized: incorrect username or password$/,
    );
    await rejectsWith(
      client().resolve(parseReference(tokenImg.ref)),
      NotFoundError,
      `pull access denied for ${token.host}/private/busybox, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`,
    );
  });
});

test('parseChallenge', () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
  });
  assert.deepEqual(parseChallenge('Basic realm="x"'), { scheme: 'basic', params: { realm: 'x' } });
  assert.deepEqual(parseChallenge(undefined), { scheme: 'none', params: {} });
});
