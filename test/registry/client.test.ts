// The registry client against real registries (Debian's docker-registry) from test/fixtures.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { after, before, describe, test } from 'node:test';
import { createRegistryClient, parseChallenge } from '../../src/registry/client.js';
import { parseReference } from '../../src/registry/reference.js';
import type { RegistryClient } from '../../src/registry/types.js';
import { DigestMismatchError, NotFoundError, SystemError, UnauthorizedError } from '../../src/util/errors.js';
import { MediaType } from '../../src/images/oci.js';
import {
  HELLO_TEXT,
  corruptBlob,
  corruptManifest,
  pushBusybox,
  pushHelloWorld,
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
  let hello: PushedImage;
  let dockerList: PushedImage;

  before(async () => {
    reg = await startRegistry();
    [busybox, oci, list, zstdImg, multi, hello, dockerList] = await Promise.all([
      pushBusybox(reg.host),
      pushOciImage(reg.host, 'test/oci', 'v1'),
      pushManifestList(reg.host, 'test/multiarch', 'v1'),
      pushZstdImage(reg.host, 'test/zstd', 'v1'),
      pushMultiLayer(reg.host, 'test/multilayer', 'v1'),
      pushHelloWorld(reg.host),
      pushManifestList(reg.host, 'test/multiarch-docker', 'v1', 'v2s2'),
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

  test('a Docker manifest list resolves to its linux/amd64 schema2 manifest', async () => {
    const img = await client().resolve(parseReference(dockerList.ref));
    assert.equal(img.repoDigest, dockerList.digest);
    assert.equal(img.manifestMediaType, MediaType.dockerManifest);
    assert.equal(img.config.architecture, 'amd64');
    const arm = await client().resolve(parseReference(dockerList.ref), { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    assert.equal(arm.config.architecture, 'arm64');
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

  test('hello-world: /hello prints the message and exits 0', async (t) => {
    const c = client();
    const img = await c.resolve(parseReference(hello.ref));
    assert.deepEqual(img.config.config?.Cmd, ['/hello']);
    assert.equal(img.manifest.layers.length, 1);
    const dir = await mkdtemp(join(tmpdir(), 'berth-hello-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const extract = tar.extract();
    const blob = await c.fetchBlob(img, img.manifest.layers[0]);
    blob.pipe(createGunzip()).pipe(extract);
    let binary: Buffer | undefined;
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      if (entry.header.name === 'hello') binary = Buffer.concat(chunks);
    }
    assert.ok(binary, 'layer has /hello');
    await writeFile(join(dir, 'hello'), binary);
    await chmod(join(dir, 'hello'), 0o755);
    const { stdout } = await promisify(execFile)(join(dir, 'hello'));
    assert.equal(stdout, HELLO_TEXT);
    assert.ok(stdout.startsWith('\nHello from Docker!\nThis message shows that your installation appears to be working correctly.\n'));
  });

  test('mirrors: a mirror answering 5xx falls back to the next one', async (t) => {
    const broken = http.createServer((req, res) => {
      req.resume();
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('upstream unavailable');
    });
    await new Promise<void>((r) => broken.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => { broken.closeAllConnections(); broken.close(() => r()); }));
    const addr = broken.address() as net.AddressInfo;
    const img = await client([`http://127.0.0.1:${addr.port}`, reg.url]).resolve(parseReference('busybox'));
    assert.equal(img.endpoint, reg.url);
    assert.equal(img.repoDigest, busybox.digest);
  });

  test('mirrors: when every endpoint fails, a mirror\'s "manifest unknown" beats an unreachable origin', async () => {
    const port = await deadPort();
    const c = createRegistryClient({ mirrors: [reg.url], insecureRegistries: [], dockerHubOrigin: `http://127.0.0.1:${port}` });
    await rejectsWith(c.resolve(parseReference('busybox:no-such-tag')), NotFoundError, 'manifest for busybox:no-such-tag not found: manifest unknown: manifest unknown');
  });
});

// A registry of its own: blobs are shared by all repositories of a registry, so tampering with
// them must not reach images other tests pull.
describe('registry client: tampered content', () => {
  let reg: RunningRegistry;
  let multi: PushedImage;
  let hello: PushedImage;

  before(async () => {
    reg = await startRegistry();
    [multi, hello] = await Promise.all([pushMultiLayer(reg.host, 'test/multilayer', 'v1'), pushHelloWorld(reg.host, 'test/hello', 'v1')]);
  });
  after(async () => {
    await reg?.stop();
  });

  test('a corrupted layer streams as is (the caller verifies); a corrupted config is rejected', async () => {
    const c = client();
    const img = await c.resolve(parseReference(multi.ref));
    const layer = img.manifest.layers[img.manifest.layers.length - 1];
    await corruptBlob(reg, layer.digest);
    const got = await sha256OfStream(await c.fetchBlob(img, layer));
    assert.equal(got.size, layer.size);
    assert.notEqual(got.digest, layer.digest);
    await corruptBlob(reg, img.configDescriptor.digest);
    await assert.rejects(client().resolve(parseReference(multi.ref)), DigestMismatchError);
  });

  test('a manifest whose bytes do not match its digest is rejected, by tag and by digest', async () => {
    await client().resolve(parseReference(hello.ref));
    await corruptManifest(reg, hello.digest);
    await assert.rejects(client().resolve(parseReference(hello.ref)), (err: unknown) => {
      assert.ok(err instanceof DigestMismatchError, String(err));
      assert.match(err.message, new RegExp(hello.digest.slice(7)));
      return true;
    });
    await assert.rejects(client().resolve(parseReference(`${reg.host}/test/hello@${hello.digest}`)), DigestMismatchError);
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
    const issued = token.tokensIssued?.();
    const again = await c.resolve(parseReference(tokenImg.ref), { auth });
    assert.equal(again.manifestDigest, img.manifestDigest);
    assert.equal(token.tokensIssued?.(), issued, 'the cached token is reused');
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

test('endpoints: mirrors first for docker.io, http for loopback and insecure registries', () => {
  type WithEndpoints = RegistryClient & { endpointsFor(ref: ReturnType<typeof parseReference>): string[] };
  const c = createRegistryClient({
    mirrors: ['127.0.0.1:5000', 'https://mirror.example.com/', 'mirror2.example.com:8443'],
    insecureRegistries: ['myreg.example:5000', '10.1.0.0/16'],
    dockerHubOrigin: 'https://registry-1.docker.io',
  }) as WithEndpoints;
  assert.deepEqual(c.endpointsFor(parseReference('busybox')), [
    'http://127.0.0.1:5000',
    'https://mirror.example.com',
    'https://mirror2.example.com:8443',
    'https://registry-1.docker.io',
  ]);
  const one = (s: string): string[] => c.endpointsFor(parseReference(s));
  assert.deepEqual(one('myreg.example:5000/a/b'), ['http://myreg.example:5000']);
  assert.deepEqual(one('myreg.example/a/b'), ['https://myreg.example']);
  assert.deepEqual(one('10.1.2.3:5000/a'), ['http://10.1.2.3:5000']);
  assert.deepEqual(one('10.2.2.3:5000/a'), ['https://10.2.2.3:5000']);
  assert.deepEqual(one('localhost:5000/a'), ['http://localhost:5000']);
  assert.deepEqual(one('127.0.0.2/a'), ['http://127.0.0.2']);
  assert.deepEqual(one('[::1]:5000/a'), ['http://[::1]:5000']);
  assert.deepEqual(one('quay.io/a/b'), ['https://quay.io']);
  const offline = createRegistryClient({ mirrors: ['127.0.0.1:5000'], insecureRegistries: [], dockerHubOrigin: null }) as WithEndpoints;
  assert.deepEqual(offline.endpointsFor(parseReference('busybox')), ['http://127.0.0.1:5000']);
});
