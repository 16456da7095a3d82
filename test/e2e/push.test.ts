// Push against real registries (Debian's docker-registry), checked with skopeo: uploads (one PUT
// and PATCH chunks), "Layer already exists", cross-repository mounts, manifests pushed in their
// pulled bytes (same digest), the docker CLI's push, pull round trips, and a push interrupted by
// kill -9 that a second push finishes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { pushBusybox, pushMultiLayer, pushZstdImage } from '../fixtures/images.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { pushRandomImage, skopeoDigest } from './push-helpers.js';
import { BERTH, TestDaemon } from './harness.js';

function lines(out: string): string[] {
  return out.split('\n').filter(Boolean);
}

describe('push to a plain registry', () => {
  let source: RunningRegistry;
  let target: RunningRegistry;
  let daemon: TestDaemon;
  let multiDigest: string;
  let randomDigest: string;

  before(async () => {
    source = await startRegistry();
    target = await startRegistry();
    await pushBusybox(source.host);
    multiDigest = (await pushMultiLayer(source.host)).digest;
    randomDigest = await pushRandomImage(source.host, 'test/random', 'v1', 3, 3 << 20);
    // Small chunks: layers bigger than 1 MiB go up in PATCH chunks, smaller ones in one PUT.
    daemon = new TestDaemon({ insecureRegistries: [source.host, target.host], env: { BERTH_PUSH_CHUNK_SIZE: String(1 << 20) } });
    await daemon.start();
  });
  after(async () => {
    await daemon?.cleanup();
    await source?.stop();
    await target?.stop();
  });

  test('berth push uploads every layer, the digest is the pulled one, a second push finds them all', async () => {
    const src = `${source.host}/test/multilayer:latest`;
    assert.equal((await daemon.berth(['pull', src])).code, 0);
    const dst = `${target.host}/copy/multilayer:v1`;
    const tagged = await daemon.berth(['tag', src, dst]);
    assert.equal(tagged.code, 0, tagged.stderr);

    const pushed = await daemon.berth(['push', dst]);
    assert.equal(pushed.code, 0, pushed.stderr);
    const out = lines(pushed.stdout);
    assert.equal(out[0], `The push refers to repository [${target.host}/copy/multilayer]`);
    assert.equal(out.filter((l) => l.endsWith(': Preparing')).length, 3);
    assert.equal(out.filter((l) => l.endsWith(': Pushed')).length, 3);
    assert.equal(out[out.length - 1].replace(/size: \d+$/, 'size: N'), `v1: digest: ${multiDigest} size: N`);
    assert.equal(await skopeoDigest(dst), multiDigest);

    const again = await daemon.berth(['push', dst]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(lines(again.stdout).filter((l) => l.endsWith(': Layer already exists')).length, 3);
    assert.equal(lines(again.stdout).filter((l) => l.endsWith(': Pushed')).length, 0);

    // RepoDigests now name the target too, as docker records a push.
    const inspect = await daemon.api('GET', `/images/${encodeURIComponent(dst)}/json`);
    assert.ok((inspect.body.RepoDigests as string[]).includes(`${target.host}/copy/multilayer@${multiDigest}`), JSON.stringify(inspect.body.RepoDigests));
  });

  test('chunked uploads (PATCH) of multi-MiB layers; the image pulls back identical', async () => {
    const src = `${source.host}/test/random:v1`;
    assert.equal((await daemon.berth(['pull', src])).code, 0);
    const dst = `${target.host}/copy/random:v1`;
    assert.equal((await daemon.berth(['tag', src, dst])).code, 0);
    const pushed = await daemon.berth(['push', dst]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(await skopeoDigest(dst), randomDigest);
    assert.match(daemon.log(), /"chunks":[4-9]/, 'a 3 MiB layer went up in 1 MiB PATCH chunks');
    const before = await daemon.api('GET', `/images/${encodeURIComponent(src)}/json`);
    // Round trip: remove every name, pull from the target, same image ID.
    for (const name of [src, dst]) assert.equal((await daemon.berth(['rmi', name])).code, 0);
    const pulled = await daemon.berth(['pull', dst]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const back = await daemon.api('GET', `/images/${encodeURIComponent(dst)}/json`);
    assert.equal(back.body.Id, before.body.Id);
  });

  test('a blob from another repository of the same registry is mounted, not uploaded', async () => {
    const src = `${source.host}/library/busybox:latest`;
    assert.equal((await daemon.berth(['pull', src])).code, 0);
    const dst = `${source.host}/other/busybox:latest`;
    assert.equal((await daemon.berth(['tag', src, dst])).code, 0);
    const pushed = await daemon.berth(['push', dst]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /: Mounted from library\/busybox\n/);
    assert.doesNotMatch(pushed.stdout, /: Pushed\n/);
    assert.equal(await skopeoDigest(dst), await skopeoDigest(src));
  });

  test('the docker CLI pushes through berthd; the API stream carries docker\'s aux record', async () => {
    const src = `${source.host}/library/busybox:latest`;
    assert.equal((await daemon.berth(['pull', src])).code, 0);
    const dst = `${target.host}/docker/busybox:cli`;
    const tagged = await daemon.docker(['tag', src, dst]);
    assert.equal(tagged.code, 0, tagged.stderr);
    const pushed = await daemon.docker(['push', dst]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, new RegExp(`The push refers to repository \\[${target.host}/docker/busybox\\]`));
    const digest = await skopeoDigest(dst);
    assert.match(pushed.stdout, new RegExp(`cli: digest: ${digest} size: \\d+`));

    const raw = await daemon.api('POST', `/images/${target.host}/docker/busybox/push?tag=cli`);
    assert.equal(raw.status, 200);
    const msgs = (raw.body as string).split('\r\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
    const aux = msgs.find((m) => m.aux)?.aux;
    assert.equal(aux.Tag, 'cli');
    assert.equal(aux.Digest, digest);
    assert.ok(aux.Size > 0);
    assert.ok(msgs.some((m) => m.status === 'Layer already exists'));

    // docker pull of what berth pushed, into berthd again: same digest.
    assert.equal((await daemon.docker(['rmi', dst])).code, 0);
    const pulled = await daemon.docker(['pull', dst]);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.match(pulled.stdout, new RegExp(`Digest: ${digest}`));
  });

  test('a layer whose blob was never downloaded (same diff ID already unpacked) is fetched from its source, then pushed', async () => {
    await pushZstdImage(source.host);
    const gz = `${source.host}/library/busybox:latest`;
    const zst = `${source.host}/test/zstd:latest`;
    assert.equal((await daemon.berth(['pull', gz])).code, 0);
    const pulled = await daemon.berth(['pull', zst]);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.doesNotMatch(pulled.stdout, /Pull complete/, 'the zstd image\'s layer was already unpacked from the gzip image: nothing downloaded');
    const dst = `${target.host}/copy/zstd:latest`;
    assert.equal((await daemon.berth(['tag', zst, dst])).code, 0);
    const pushed = await daemon.berth(['push', dst]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(await skopeoDigest(dst), await skopeoDigest(zst));
  });

  test('push -a pushes every tag of the repository', async () => {
    const src = `${source.host}/library/busybox:latest`;
    assert.equal((await daemon.berth(['pull', src])).code, 0);
    for (const t of ['one', 'two']) assert.equal((await daemon.berth(['tag', src, `${target.host}/all/busybox:${t}`])).code, 0);
    const pushed = await daemon.berth(['push', '-a', `${target.host}/all/busybox`]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /^one: digest: sha256:[a-f0-9]{64} size: \d+$/m);
    assert.match(pushed.stdout, /^two: digest: sha256:[a-f0-9]{64} size: \d+$/m);
    assert.equal(await skopeoDigest(`${target.host}/all/busybox:two`), await skopeoDigest(src));
  });

  test('pushing what is not there, or to a registry that is down, fails clearly', async () => {
    const missing = await daemon.berth(['push', `${target.host}/nothing/here:v9`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`An image does not exist locally with the tag: ${target.host}/nothing/here`));
    const docker = await daemon.docker(['push', `${target.host}/nothing/here:v9`]);
    assert.equal(docker.code, 1);
    assert.match(docker.stderr, /An image does not exist locally with the tag/);

    const src = `${source.host}/library/busybox:latest`;
    const dead = '127.0.0.1:1/x/busybox:latest';
    assert.equal((await daemon.berth(['tag', src, dead])).code, 0);
    const down = await daemon.berth(['push', dead]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /connection refused/);
  });

  test('a push killed mid-upload (kill -9 of berthd) is finished by the next push, which skips what landed', async () => {
    const big = await pushRandomImage(source.host, 'test/big', 'v1', 4, 6 << 20);
    const src = `${source.host}/test/big:v1`;
    assert.equal((await daemon.berth(['pull', src])).code, 0);
    const dst = `${target.host}/copy/big:v1`;
    assert.equal((await daemon.berth(['tag', src, dst])).code, 0);

    // Start the push, wait for the first layer to land, then crash the daemon.
    const child = spawn(BERTH, ['push', dst], { env: { ...process.env, BERTH_HOST: daemon.host } });
    let out = '';
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no layer pushed in time: ${out}`)), 120_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (/: Pushed\n/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    daemon.kill9();
    const code = await exited;
    assert.notEqual(code, 0, 'the interrupted push fails');
    const manifest = await fetch(`${target.url}/v2/copy/big/manifests/v1`);
    assert.equal(manifest.status, 404, 'no manifest was pushed');

    await daemon.start();
    const again = await daemon.berth(['push', dst]);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(lines(again.stdout).some((l) => l.endsWith(': Layer already exists')), again.stdout);
    assert.equal(await skopeoDigest(dst), big);
  });
});
