// Image management through the docker CLI and the berth CLI against berthd: tag, rmi (untag vs
// delete, conflicts), history, image inspect, image prune, save and load (round trips, archives
// made by skopeo, hostile and corrupted archives).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import tar from 'tar-stream';
import { pushBusybox, pushMultiLayer } from '../fixtures/images.js';
import { startStack, type TestDaemon } from './harness.js';

const execFileAsync = promisify(execFile);

async function skopeo(args: string[]): Promise<void> {
  await execFileAsync('skopeo', ['--insecure-policy', ...args], { maxBuffer: 64 << 20 });
}

/** Entries of a tar file: name → content (files) or link target. */
async function readTar(path: string): Promise<Map<string, { type: string; data: Buffer; linkname?: string }>> {
  const out = new Map<string, { type: string; data: Buffer; linkname?: string }>();
  const extract = tar.extract();
  const { createReadStream } = await import('node:fs');
  createReadStream(path).pipe(extract as unknown as NodeJS.WritableStream);
  for await (const e of extract) {
    const chunks: Buffer[] = [];
    for await (const c of e as AsyncIterable<Buffer>) chunks.push(c);
    out.set(e.header.name, { type: e.header.type ?? 'file', data: Buffer.concat(chunks), linkname: e.header.linkname ?? undefined });
  }
  return out;
}

/** Writes a tar from [name, content | {symlink}] entries. */
async function writeTar(path: string, entries: Array<{ name: string; data?: Buffer | string; type?: 'file' | 'symlink' | 'directory'; linkname?: string }>): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
    const isFile = !e.type || e.type === 'file';
    await new Promise<void>((res, rej) => {
      const header = { name: e.name, type: e.type ?? 'file', linkname: e.linkname, size: isFile ? data.length : 0, mode: 0o644 } as tar.Header;
      if (isFile) pack.entry(header, data, (err) => (err ? rej(err) : res()));
      else pack.entry(header, (err) => (err ? rej(err) : res()));
    });
  }
  pack.finalize();
  await done;
  writeFileSync(path, Buffer.concat(chunks));
}

/** The merged view of the multilayer fixture (see test/fixtures/images.ts). */
const MULTILAYER_FILES = { 'data/a.txt': 'alpha\n', 'data/dir/c.txt': 'charlie\n', 'data/link': 'link is now a file\n', 'data/new.txt': 'new\n', 'data/opq/z.txt': 'z\n' };

describe('images: tag, rmi, history, inspect, prune, save, load', () => {
  let daemon: TestDaemon;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  let registryHost = '';
  let work = '';

  before(async () => {
    stack = await startStack({
      mirror: true,
      seed: async (host) => {
        await pushBusybox(host);
        await pushMultiLayer(host);
      },
    });
    ({ daemon } = stack);
    registryHost = stack.registry.host;
    work = mkdtempSync(join(tmpdir(), 'berth-images-'));
    assert.equal((await daemon.docker(['pull', 'busybox'])).code, 0);
    assert.equal((await daemon.docker(['pull', `${registryHost}/test/multilayer`])).code, 0);
  });

  /** Regular files of an image's merged root (via create + export), path → content. */
  async function mergedFiles(image: string): Promise<Record<string, string>> {
    const created = await daemon.docker(['create', image, 'none']);
    assert.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    const file = join(work, `export-${id.slice(0, 12)}.tar`);
    const exp = await daemon.docker(['export', '-o', file, id]);
    assert.equal(exp.code, 0, exp.stderr);
    await daemon.docker(['rm', id]);
    const out: Record<string, string> = {};
    for (const [name, e] of await readTar(file)) if (e.type === 'file') out[name] = e.data.toString();
    return out;
  }

  after(async () => {
    await stack?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('tag and rmi: untag vs delete, docker\'s lines, both CLIs', async () => {
    assert.equal((await daemon.docker(['tag', 'busybox', 'mybox:one'])).code, 0);
    const tagged = await daemon.berth(['tag', 'busybox', 'example.com/team/mybox:two']);
    assert.equal(tagged.code, 0, tagged.stderr);
    assert.equal(tagged.stdout, '');
    const ls = await daemon.docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    const ids = new Set(ls.stdout.split('\n').filter((l) => /busybox:latest|mybox:one|mybox:two/.test(l)).map((l) => l.split(' ')[1]));
    assert.equal(ids.size, 1, ls.stdout);
    const untag = await daemon.docker(['rmi', 'mybox:one']);
    assert.equal(untag.code, 0, untag.stderr);
    assert.equal(untag.stdout, 'Untagged: mybox:one\n');
    const untag2 = await daemon.berth(['rmi', 'example.com/team/mybox:two']);
    assert.equal(untag2.stdout, 'Untagged: example.com/team/mybox:two\n');
    const missing = await daemon.docker(['tag', 'nosuchimage', 'x:y']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such image: nosuchimage/);
    const bad = await daemon.berth(['tag', 'busybox', 'Bad//Name']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid reference format/);
  });

  test('rmi of an image a container uses: docker\'s 409, -f untags, a running one cannot go', async () => {
    assert.equal((await daemon.docker(['tag', 'busybox', 'inuse:latest'])).code, 0);
    const create = await daemon.docker(['create', '--name', 'user1', 'inuse:latest', 'true']);
    assert.equal(create.code, 0, create.stderr);
    assert.equal((await daemon.docker(['rmi', 'busybox'])).code, 0, 'another tag: only untagged');
    const refused = await daemon.docker(['rmi', 'inuse']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /Error response from daemon: conflict: unable to remove repository reference "inuse" \(must force\) - container [a-f0-9]{12} is using its referenced image [a-f0-9]{12}/);
    const api = await daemon.api('DELETE', '/images/inuse');
    assert.equal(api.status, 409);
    const forced = await daemon.berth(['rmi', '-f', 'inuse']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /^Untagged: inuse:latest$/m);
    // The container still runs from its layers.
    const start = await daemon.docker(['start', '-a', 'user1']);
    assert.equal(start.code, 0, start.stderr);
    assert.equal((await daemon.docker(['rm', 'user1'])).code, 0);
    assert.equal((await daemon.docker(['pull', 'busybox'])).code, 0);
  });

  test('history: docker\'s columns, -H=false, --no-trunc, -q', async () => {
    for (const cli of ['docker', 'berth'] as const) {
      const run = cli === 'docker' ? daemon.docker.bind(daemon) : daemon.berth.bind(daemon);
      const h = await run(['history', `${registryHost}/test/multilayer`]);
      assert.equal(h.code, 0, h.stderr);
      const lines = h.stdout.trimEnd().split('\n');
      assert.match(lines[0]!, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
      assert.equal(lines.length, 5, h.stdout);
      assert.match(lines[1]!, /\/bin\/sh -c #\(nop\)  CMD \["cat","\/data\/a\.txt"\]\s+0B\s*$/);
      assert.match(lines[4]!, /berth test fixture layer 1\s+24B\s*$/);
      assert.match(lines[1]!, /^[a-f0-9]{12}\s+/);
      assert.match(lines[2]!, /^<missing>\s+/);
      const raw = await run(['history', '-H=false', '--no-trunc', `${registryHost}/test/multilayer`]);
      assert.match(raw.stdout.split('\n')[1]!, /^sha256:[a-f0-9]{64}\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)\s+.*\s\d+\s*/);
      const q = await run(['history', '-q', 'busybox']);
      assert.match(q.stdout, /^[a-f0-9]{12}\n/);
    }
    const api = await daemon.api('GET', '/images/busybox/history');
    assert.equal(api.status, 200);
    assert.deepEqual(Object.keys(api.body[0]).sort(), ['Comment', 'Created', 'CreatedBy', 'Id', 'Size', 'Tags']);
    assert.deepEqual(api.body[0].Tags, ['busybox:latest']);
    assert.ok(api.body.some((h: { Size: number }) => h.Size > 100_000), 'the busybox layer has its size');
  });

  test('image inspect: docker\'s fields', async () => {
    const r = await daemon.docker(['image', 'inspect', `${registryHost}/test/multilayer`]);
    assert.equal(r.code, 0, r.stderr);
    const [img] = JSON.parse(r.stdout) as Array<Record<string, any>>;
    for (const key of ['Id', 'RepoTags', 'RepoDigests', 'Parent', 'Comment', 'Created', 'Config', 'Architecture', 'Os', 'Size', 'GraphDriver', 'RootFS', 'Metadata']) {
      assert.ok(key in img, `missing ${key}`);
    }
    assert.equal(img.Architecture, 'amd64');
    assert.equal(img.Os, 'linux');
    assert.equal(img.RootFS.Type, 'layers');
    assert.equal(img.RootFS.Layers.length, 3);
    assert.equal(img.GraphDriver.Name, 'overlay2');
    assert.ok(existsSync(img.GraphDriver.Data.UpperDir));
    assert.equal(img.GraphDriver.Data.LowerDir.split(':').length, 2);
    assert.deepEqual(img.Config.Cmd, ['cat', '/data/a.txt']);
    assert.match(img.RepoDigests[0], new RegExp(`^${registryHost.replace(/\./g, '\\.')}/test/multilayer@sha256:[a-f0-9]{64}$`));
    const fmt = await daemon.berth(['image', 'inspect', '--format', '{{.Os}}/{{.Architecture}}', 'busybox']);
    assert.equal(fmt.stdout, 'linux/amd64\n');
  });

  test('save → rmi → load → run through the docker CLI; the archive has Docker 25\'s layout and skopeo reads it', async () => {
    const file = join(work, 'busybox.tar');
    const save = await daemon.docker(['save', '-o', file, 'busybox']);
    assert.equal(save.code, 0, save.stderr);
    const entries = await readTar(file);
    for (const name of ['manifest.json', 'index.json', 'oci-layout', 'repositories']) assert.ok(entries.has(name), `${name} in ${[...entries.keys()].join(',')}`);
    const manifest = JSON.parse(entries.get('manifest.json')!.data.toString()) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
    assert.deepEqual(manifest[0]!.RepoTags, ['busybox:latest']);
    assert.match(manifest[0]!.Config, /^blobs\/sha256\/[a-f0-9]{64}$/);
    const index = JSON.parse(entries.get('index.json')!.data.toString()) as { manifests: Array<{ annotations: Record<string, string> }> };
    assert.equal(index.manifests[0]!.annotations['io.containerd.image.name'], 'docker.io/library/busybox:latest');
    // Every blob is named by the sha256 of its bytes.
    const { createHash } = await import('node:crypto');
    for (const [name, e] of entries) {
      if (!name.startsWith('blobs/sha256/') || e.type !== 'file') continue;
      assert.equal(createHash('sha256').update(e.data).digest('hex'), name.slice('blobs/sha256/'.length), name);
    }
    // Independent readers: skopeo copies it both as a docker archive and as an OCI archive.
    await skopeo(['copy', `docker-archive:${file}`, `oci:${join(work, 'via-docker-archive')}:x`]);
    // Docker 25+ names the OCI index entry by its tag alone (org.opencontainers.image.ref.name).
    await skopeo(['copy', `oci-archive:${file}:latest`, `oci:${join(work, 'via-oci-archive')}:x`]);
    const { stdout } = await execFileAsync('skopeo', ['inspect', '--config', `docker-archive:${file}`]);
    assert.deepEqual((JSON.parse(stdout) as { config: { Cmd: string[] } }).config.Cmd, ['sh']);

    const before = (await daemon.docker(['image', 'inspect', '--format', '{{.Id}}', 'busybox'])).stdout.trim();
    assert.equal((await daemon.docker(['rmi', 'busybox'])).code, 0);
    const load = await daemon.docker(['load', '-i', file]);
    assert.equal(load.code, 0, load.stderr);
    assert.equal(load.stdout, 'Loaded image: busybox:latest\n');
    const after = (await daemon.docker(['image', 'inspect', '--format', '{{.Id}}', 'busybox'])).stdout.trim();
    assert.equal(after, before, 'same image ID after the round trip');
    const run = await daemon.docker(['run', '--rm', 'busybox', 'echo', 'loaded']);
    assert.equal(run.stdout, 'loaded\n');
    // berth: save several to stdout, load -q from stdin.
    const all = join(work, 'two.tar');
    const both = await daemon.berth(['save', '-o', all, 'busybox', `${registryHost}/test/multilayer:latest`]);
    assert.equal(both.code, 0, both.stderr);
    assert.equal((await daemon.berth(['rmi', `${registryHost}/test/multilayer:latest`])).code, 0);
    const load2 = await daemon.berth(['load', '-i', all]);
    assert.equal(load2.code, 0, load2.stderr);
    assert.match(load2.stdout, new RegExp(`^Loaded image: ${registryHost.replace(/\./g, '\\.')}/test/multilayer:latest$`, 'm'));
    // The multilayer image has no shell: look at its merged files through export.
    assert.deepEqual(await mergedFiles(`${registryHost}/test/multilayer`), MULTILAYER_FILES, 'whiteouts survive save/load');
  });

  test('save by ID: "Loaded image ID"; refusing a terminal; unknown image is 404', async () => {
    const id = (await daemon.docker(['image', 'inspect', '--format', '{{.Id}}', 'busybox'])).stdout.trim();
    const file = join(work, 'byid.tar');
    assert.equal((await daemon.berth(['save', '-o', file, id.slice(7, 19)])).code, 0);
    const load = await daemon.docker(['load', '-i', file]);
    assert.equal(load.stdout, `Loaded image ID: ${id}\n`);
    const missing = await daemon.docker(['save', '-o', join(work, 'x.tar'), 'nosuch:image']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such image: nosuch:image/);
  });

  test('load the pre-25 docker layout: <id>/layer.tar, <hex>.json, gzip layers; a moved tag is renamed', async () => {
    const file = join(work, 'modern.tar');
    assert.equal((await daemon.docker(['save', '-o', file, 'busybox'])).code, 0);
    const entries = await readTar(file);
    const [m] = JSON.parse(entries.get('manifest.json')!.data.toString()) as Array<{ Config: string; Layers: string[] }>;
    const { gzipSync } = await import('node:zlib');
    const configHex = m!.Config.split('/').pop()!;
    const legacy: Array<{ name: string; data?: Buffer; type?: 'directory' }> = [
      { name: `${configHex}.json`, data: entries.get(m!.Config)!.data },
      ...m!.Layers.flatMap((l, i) => [
        { name: `layer${i}/`, type: 'directory' as const },
        { name: `layer${i}/VERSION`, data: Buffer.from('1.0') },
        { name: `layer${i}/layer.tar`, data: gzipSync(entries.get(l)!.data) },
      ]),
      { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['legacy:v1'], Layers: m!.Layers.map((_l, i) => `layer${i}/layer.tar`) }])) },
    ];
    const legacyFile = join(work, 'legacy.tar');
    await writeTar(legacyFile, legacy);
    // legacy:v1 first names another image, so docker's rename line appears.
    await writeTar(join(work, 'other.tar'), [{ name: 'other.txt', data: 'other\n' }]);
    assert.equal((await daemon.docker(['import', join(work, 'other.tar'), 'legacy:v1'])).code, 0);
    const r = await daemon.docker(['load', '-i', legacyFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^The image legacy:v1 already exists, renaming the old one with ID sha256:[a-f0-9]{64} to empty string\nLoaded image: legacy:v1\n$/);
    assert.equal((await daemon.docker(['run', '--rm', 'legacy:v1', 'echo', 'legacy ok'])).stdout, 'legacy ok\n');
    // A config whose name does not match its bytes is refused.
    const wrong = legacy.map((e) => (e.name === `${configHex}.json` ? { ...e, name: `${'0'.repeat(64)}.json` } : e.name === 'manifest.json' ? { ...e, data: Buffer.from(e.data!.toString().replace(configHex, '0'.repeat(64))) } : e));
    await writeTar(join(work, 'wrong.tar'), wrong);
    const bad = await daemon.berth(['load', '-i', join(work, 'wrong.tar')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /digest mismatch/);
  });

  test('load archives made by skopeo: docker-archive and oci-archive', async () => {
    const dockerArchive = join(work, 'skopeo-docker.tar');
    const ociArchive = join(work, 'skopeo-oci.tar');
    await skopeo(['copy', '--src-tls-verify=false', `docker://${registryHost}/library/busybox:latest`, `docker-archive:${dockerArchive}:skopeo/busybox:docker`]);
    await skopeo(['copy', '--src-tls-verify=false', `docker://${registryHost}/library/busybox:latest`, `oci-archive:${ociArchive}:skopeo/busybox:oci`]);
    const multiArchive = join(work, 'skopeo-multi.tar');
    await skopeo(['copy', '--src-tls-verify=false', `docker://${registryHost}/test/multilayer:latest`, `docker-archive:${multiArchive}:skopeo/multi:docker`]);
    const a = await daemon.docker(['load', '-i', dockerArchive]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, 'Loaded image: skopeo/busybox:docker\n');
    const b = await daemon.berth(['load', '-i', ociArchive]);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, 'Loaded image: skopeo/busybox:oci\n');
    assert.equal((await daemon.docker(['run', '--rm', 'skopeo/busybox:docker', 'echo', 'ok'])).stdout, 'ok\n');
    assert.equal((await daemon.docker(['run', '--rm', 'skopeo/busybox:oci', 'echo', 'ok'])).stdout, 'ok\n');
    assert.equal((await daemon.berth(['load', '-q', '-i', multiArchive])).stdout, 'Loaded image: skopeo/multi:docker\n');
    assert.deepEqual(await mergedFiles('skopeo/multi:docker'), MULTILAYER_FILES);
  });

  test('bad archives: wrong digest, hostile paths, symlinks out; nothing written or listed', async () => {
    const dataRoot = daemon.dataRoot;
    const snapshot = () => ({
      images: readdirSync(join(dataRoot, 'snapshots')).sort().join(','),
      blobs: readdirSync(join(dataRoot, 'content', 'blobs', 'sha256')).sort().join(','),
    });
    // A layer that is not what the config's diff_ids say. The image goes first, so the load has
    // to make every layer: the good ones (made at the same time as the bad one) must go too.
    const good = join(work, 'good.tar');
    assert.equal((await daemon.docker(['save', '-o', good, `${registryHost}/test/multilayer`])).code, 0);
    assert.equal((await daemon.docker(['rmi', `${registryHost}/test/multilayer`])).code, 0);
    const beforeState = snapshot();
    const beforeImages = (await daemon.docker(['images', '-q', '--no-trunc'])).stdout;
    const entries = await readTar(good);
    const manifest = JSON.parse(entries.get('manifest.json')!.data.toString()) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
    const layerName = manifest[0]!.Layers[1]!;
    const rebuilt: Array<{ name: string; data?: Buffer; type?: 'file' | 'directory' }> = [];
    for (const [name, e] of entries) {
      let data = e.data;
      if (name === layerName) {
        data = Buffer.from(data);
        data[600] = data[600]! ^ 0xff; // flips a byte of the first file's content
      }
      rebuilt.push(e.type === 'directory' ? { name, type: 'directory' } : { name, data });
    }
    const tampered = join(work, 'tampered.tar');
    await writeTar(tampered, rebuilt.map((e) => (e.name === 'manifest.json' ? { ...e, data: Buffer.from(JSON.stringify([{ ...manifest[0], RepoTags: ['tampered:latest'] }])) } : e)));
    const r1 = await daemon.docker(['load', '-i', tampered]);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /digest mismatch/);

    // Hostile member names and links.
    const probe = join(work, 'probe.txt');
    writeFileSync(probe, 'untouched\n');
    const cases: Array<[string, Array<{ name: string; data?: string; type?: 'file' | 'symlink'; linkname?: string }>, RegExp]> = [
      ['dotdot', [{ name: '../../../../../../../../' + probe, data: 'pwned' }, { name: 'manifest.json', data: '[]' }], /outside the archive/],
      ['absolute', [{ name: probe, data: 'pwned' }, { name: 'manifest.json', data: '[]' }], /absolute path/],
      ['symlink out', [{ name: 'manifest.json', type: 'symlink', linkname: '../../../../../../..' + probe }], /outside the archive/],
      ['symlink absolute', [{ name: 'manifest.json', type: 'symlink', linkname: probe }], /outside the archive/],
    ];
    for (const [label, list, message] of cases) {
      const file = join(work, `hostile-${label.replace(/ /g, '-')}.tar`);
      await writeTar(file, list);
      const r = await daemon.berth(['load', '-i', file]);
      assert.equal(r.code, 1, `${label}: ${r.stdout}`);
      assert.match(r.stderr, message, label);
      const api = await daemon.api('POST', '/images/load', readFileSync(file).toString('latin1'));
      assert.ok(api.status === 400 || api.status === 500, `${label}: ${api.status}`);
    }
    assert.equal(readFileSync(probe, 'utf8'), 'untouched\n');
    const notTar = await daemon.docker(['load'], { input: 'this is not a tar file at all, just text\n'.repeat(20) });
    assert.equal(notTar.code, 1);

    assert.equal((await daemon.docker(['images', '-q', '--no-trunc'])).stdout, beforeImages, 'no image listed');
    assert.deepEqual(snapshot(), beforeState, 'no snapshot or blob left behind');
    assert.deepEqual(readdirSync(join(dataRoot, 'tmp')), [], 'no temp files left');
    // The untampered archive loads, every layer of it.
    const back = await daemon.docker(['load', '-i', good]);
    assert.equal(back.code, 0, back.stderr);
    assert.equal((await daemon.docker(['image', 'inspect', `${registryHost}/test/multilayer`])).code, 0);
  });

  test('image prune: dangling only, then -a; docker\'s output; store directories end up clean', async () => {
    // A dangling image: an imported one (no digest) whose only tag moves to another import.
    await writeTar(join(work, 'one.tar'), [{ name: 'one.txt', data: 'one\n' }]);
    await writeTar(join(work, 'two.tar'), [{ name: 'two.txt', data: 'two\n' }]);
    assert.equal((await daemon.docker(['import', join(work, 'one.tar'), 'dangler:latest'])).code, 0);
    assert.equal((await daemon.docker(['import', join(work, 'two.tar'), 'dangler:latest'])).code, 0);
    const dangling = await daemon.docker(['images', '--filter', 'dangling=true', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.match(dangling.stdout, /<none>:<none>/);
    const prune = await daemon.docker(['image', 'prune', '-f']);
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stdout, /^Deleted Images:$/m);
    assert.match(prune.stdout, /^deleted: sha256:[a-f0-9]{64}$/m);
    assert.match(prune.stdout, /^Total reclaimed space: \d+(\.\d+)?[kMG]?B$/m);
    assert.equal((await daemon.docker(['images', '--filter', 'dangling=true', '-q'])).stdout, '');
    const keep = await daemon.docker(['images', '-q']);
    assert.notEqual(keep.stdout, '', 'tagged images stay');
    // -a through berth: everything unused goes, and nothing unreferenced stays on disk.
    const all = await daemon.berth(['image', 'prune', '-a', '-f']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^untagged: busybox:latest$/m);
    assert.equal((await daemon.docker(['images', '-q'])).stdout, '');
    assert.deepEqual(readdirSync(join(daemon.dataRoot, 'snapshots')).filter((n) => !n.startsWith('tmp-')), []);
    assert.deepEqual(readdirSync(join(daemon.dataRoot, 'content', 'blobs', 'sha256')), []);
    const api = await daemon.api('POST', '/images/prune');
    assert.deepEqual(api.body, { ImagesDeleted: null, SpaceReclaimed: 0 });
    assert.equal((await daemon.docker(['pull', 'busybox'])).code, 0);
  });
});
