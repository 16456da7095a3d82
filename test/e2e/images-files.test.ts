// Files in and out of containers through the docker CLI and the berth CLI against berthd: commit,
// export → import → run, diff, cp both ways (running and stopped containers, symlinks that point
// at host paths, `../`), system df and system prune (with the store directories checked after).
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusybox } from '../fixtures/images.js';
import { BERTH, runCommand, startStack, type TestDaemon } from './harness.js';

describe('container files: commit, export, import, diff, cp, system df/prune', () => {
  let daemon: TestDaemon;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  let work = '';

  before(async () => {
    stack = await startStack({ mirror: true, seed: (host) => pushBusybox(host) });
    ({ daemon } = stack);
    work = mkdtempSync(join(tmpdir(), 'berth-files-'));
    assert.equal((await daemon.docker(['pull', 'busybox'])).code, 0);
  });

  after(async () => {
    await stack?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('diff: A/C/D entries as docker prints them; runc\'s mount points are not changes', async () => {
    const run = await daemon.docker(['run', '--name', 'changer', 'busybox', 'sh', '-c', 'mkdir /newdir && echo hi > /newdir/f && rm /bin/vi && echo x >> /etc/passwd']);
    assert.equal(run.code, 0, run.stderr);
    const expected = 'C /bin\nD /bin/vi\nC /etc\nC /etc/passwd\nA /newdir\nA /newdir/f\n';
    const d = await daemon.docker(['diff', 'changer']);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.stdout, expected);
    assert.equal((await daemon.berth(['diff', 'changer'])).stdout, expected);
    const api = await daemon.api('GET', '/containers/changer/changes');
    assert.deepEqual(api.body[1], { Path: '/bin/vi', Kind: 2 });
    const fresh = await daemon.docker(['create', 'busybox', 'true']);
    assert.equal((await daemon.docker(['diff', fresh.stdout.trim()])).stdout, '');
    await daemon.docker(['rm', fresh.stdout.trim()]);
  });

  test('commit → run: the changes, -c, -m, -a, docker\'s history and inspect', async () => {
    const c = await daemon.docker(['commit', '-m', 'my message', '-a', 'Ann Author', '-c', 'ENV FOO=bar', '-c', 'CMD ["cat","/newdir/f"]', 'changer', 'committed:v1']);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /^sha256:[a-f0-9]{64}\n$/);
    assert.equal((await daemon.docker(['run', '--rm', 'committed:v1'])).stdout, 'hi\n');
    const check = await daemon.docker(['run', '--rm', 'committed:v1', 'sh', '-c', 'test -e /bin/vi || echo vi-gone; echo $FOO; tail -1 /etc/passwd']);
    assert.equal(check.stdout, 'vi-gone\nbar\nx\n');
    const [img] = JSON.parse((await daemon.docker(['image', 'inspect', 'committed:v1'])).stdout) as Array<Record<string, any>>;
    const base = (await daemon.docker(['image', 'inspect', '--format', '{{.Id}}', 'busybox'])).stdout.trim();
    assert.equal(img.Parent, base);
    assert.equal(img.Author, 'Ann Author');
    assert.equal(img.Comment, 'my message');
    assert.equal(img.RootFS.Layers.length, 2);
    const h = await daemon.docker(['history', 'committed:v1']);
    assert.match(h.stdout.split('\n')[1]!, /^[a-f0-9]{12}\s+\S.* ago\s+sh -c mkdir \/newdir && echo hi > \/newdir\/f &…\s+\d+B\s+my message$/);
    // berth commit of a running container, untagged.
    const runner = await daemon.docker(['run', '-d', '--name', 'runner', 'busybox', 'sh', '-c', 'echo live > /live.txt; sleep 300']);
    assert.equal(runner.code, 0, runner.stderr);
    for (let i = 0; i < 50 && !(await daemon.docker(['diff', 'runner'])).stdout.includes('/live.txt'); i++) await new Promise((r) => setTimeout(r, 100));
    const b = await daemon.berth(['commit', 'runner']);
    assert.equal(b.code, 0, b.stderr);
    const id = b.stdout.trim();
    assert.equal((await daemon.berth(['run', '--rm', id, 'cat', '/live.txt'])).stdout, 'live\n');
    const none = await daemon.docker(['images', '--filter', 'dangling=true', '--format', '{{.ID}}']);
    assert.equal(none.stdout.trim(), id.slice(7, 19));
    assert.equal((await daemon.docker(['rm', '-f', 'runner'])).code, 0);
  });

  test('export → import → run, from a file, stdin and a loopback URL; --change, --message', async () => {
    const file = join(work, 'changer.tar');
    const exp = await daemon.docker(['export', '-o', file, 'changer']);
    assert.equal(exp.code, 0, exp.stderr);
    const imp = await daemon.docker(['import', '-c', 'CMD ["cat","/newdir/f"]', '-m', 'from a tar', file, 'imported:file']);
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stdout, /^sha256:[a-f0-9]{64}\n$/);
    assert.equal((await daemon.docker(['run', '--rm', 'imported:file'])).stdout, 'hi\n');
    const hist = await daemon.api('GET', '/images/imported:file/history');
    assert.equal(hist.body.length, 1);
    assert.equal(hist.body[0].Comment, 'from a tar');
    // berth: export to stdout piped into import from stdin.
    const viaStdout = await daemon.berth(['export', 'changer']);
    assert.equal(viaStdout.code, 0);
    const stdin = await runCommand('sh', ['-c', `"${BERTH}" import - imported:stdin < "${file}"`], { env: { BERTH_HOST: daemon.host } });
    assert.equal(stdin.code, 0, stdin.stderr);
    const noCmd = await daemon.docker(['run', '--rm', 'imported:stdin']);
    assert.equal(noCmd.code, 125, 'an imported image has no command');
    assert.equal((await daemon.docker(['run', '--rm', 'imported:stdin', 'cat', '/etc/passwd'])).stdout.split('\n').at(-2), 'x');
    const stdinHist = await daemon.api('GET', '/images/imported:stdin/history');
    assert.equal(stdinHist.body[0].Comment, 'Imported from -');
    // From a URL on loopback.
    const server: Server = createServer((_req, res) => res.end(readFileSync(file)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const url = await daemon.docker(['import', `http://127.0.0.1:${port}/rootfs.tar`, 'imported:url']);
      assert.equal(url.code, 0, url.stderr);
      assert.equal((await daemon.docker(['run', '--rm', 'imported:url', 'cat', '/newdir/f'])).stdout, 'hi\n');
    } finally {
      server.close();
    }
    const bad = await daemon.docker(['import', '-c', 'FROM busybox', file]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /FROM is not a valid change command/);
  });

  test('cp both ways, running and stopped; symlinks resolve inside the container, never on the host', async () => {
    const hostSecret = join(work, 'host-secret.txt');
    writeFileSync(hostSecret, 'host secret\n');
    const run = await daemon.docker([
      'run', '-d', '--name', 'cpbox', 'busybox', 'sh', '-c',
      `mkdir -p ${work} && echo container copy > ${hostSecret} && ln -s ${hostSecret} /abs-link && ln -s ../../../../../../../../${work} /up && mkdir /dir && echo in-dir > /dir/a && sleep 300`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    for (let i = 0; i < 50 && !(await daemon.docker(['diff', 'cpbox'])).stdout.includes('/dir/a'); i++) await new Promise((r) => setTimeout(r, 100));

    for (const state of ['running', 'stopped'] as const) {
      if (state === 'stopped') assert.equal((await daemon.docker(['stop', '-t', '0', 'cpbox'])).code, 0);
      const out = join(work, state);
      mkdirSync(out);
      // The link itself (not followed), then -L: the container's file, not the host's.
      assert.equal((await daemon.docker(['cp', 'cpbox:/abs-link', join(out, 'link')])).code, 0);
      assert.equal(readlinkSync(join(out, 'link')), hostSecret);
      const follow = await daemon.docker(['cp', '-L', 'cpbox:/abs-link', join(out, 'followed')]);
      assert.equal(follow.code, 0, follow.stderr);
      assert.equal(readFileSync(join(out, 'followed'), 'utf8'), 'container copy\n');
      // ../ climbing through a symlink stays in the container's root.
      const up = await daemon.berth(['cp', 'cpbox:/up/host-secret.txt', join(out, 'up.txt')]);
      assert.equal(up.code, 0, up.stderr);
      assert.equal(readFileSync(join(out, 'up.txt'), 'utf8'), 'container copy\n');
      // A directory into an existing directory, and with berth.
      assert.equal((await daemon.docker(['cp', 'cpbox:/dir', out])).code, 0);
      assert.equal(readFileSync(join(out, 'dir', 'a'), 'utf8'), 'in-dir\n');
      assert.equal((await daemon.berth(['cp', 'cpbox:/dir/.', join(out, 'contents')])).code, 0);
      assert.equal(readFileSync(join(out, 'contents', 'a'), 'utf8'), 'in-dir\n');
      // Host to container, through the symlinked dir: lands in the container.
      const src = join(work, `to-${state}.txt`);
      writeFileSync(src, `${state} upload\n`);
      const put = await daemon.docker(['cp', src, 'cpbox:/up/']);
      assert.equal(put.code, 0, put.stderr);
      assert.ok(!existsSync(join(work, 'up')), 'nothing written on the host side');
      const put2 = await daemon.berth(['cp', src, `cpbox:/dir/renamed-${state}.txt`]);
      assert.equal(put2.code, 0, put2.stderr);
      const back = await daemon.docker(['cp', `cpbox:/dir/renamed-${state}.txt`, '-']);
      assert.match(back.stdout, new RegExp(`${state} upload`));
      const missing = await daemon.docker(['cp', 'cpbox:/no/such/file', out]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /Could not find the file \/no\/such\/file in container cpbox/);
      const notDir = await daemon.api('PUT', '/containers/cpbox/archive?path=/dir/a', '');
      assert.equal(notDir.status, 400);
    }
    assert.equal(readFileSync(hostSecret, 'utf8'), 'host secret\n', 'the host file is untouched');
    assert.deepEqual(readdirSync(work).filter((n) => n.startsWith('to-') || n === 'host-secret.txt').sort(), ['host-secret.txt', 'to-running.txt', 'to-stopped.txt']);
    const diff = (await daemon.docker(['diff', 'cpbox'])).stdout;
    assert.match(diff, new RegExp(`^A ${work}/to-running.txt$`, 'm'), 'the upload went into the container\'s own dir');
    assert.match(diff, new RegExp(`^A ${work}/to-stopped.txt$`, 'm'));
    // Stopped container: no temporary mount is left behind.
    assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(join(daemon.dataRoot, 'containers')), 'no mount left');
    const stat = await daemon.api('HEAD', '/containers/cpbox/archive?path=/dir');
    const header = JSON.parse(Buffer.from(String(stat.headers['x-docker-container-path-stat']), 'base64').toString()) as { name: string; mode: number };
    assert.equal(header.name, 'dir');
    assert.ok(header.mode >= 2 ** 31, 'Go\'s ModeDir bit');
    void lstatSync;
  });

  test('system df: shared layers counted once; system prune leaves nothing unreferenced', async () => {
    const df = await daemon.api('GET', '/system/df');
    assert.equal(df.status, 200);
    const { LayersSize, Images, Containers, Volumes, BuildCache } = df.body;
    const busybox = Images.find((i: { RepoTags: string[] }) => i.RepoTags.includes('busybox:latest'));
    const committed = Images.find((i: { RepoTags: string[] }) => i.RepoTags.includes('committed:v1'));
    assert.ok(busybox.SharedSize > 0 && busybox.SharedSize === busybox.Size, 'busybox\'s layer is shared with the commit');
    assert.equal(committed.SharedSize, busybox.Size);
    assert.ok(LayersSize < Images.reduce((s: number, i: { Size: number }) => s + i.Size, 0), 'shared layers counted once');
    assert.ok(Containers.length >= 2);
    assert.deepEqual([Volumes, BuildCache], [[], []]);
    for (const cli of ['docker', 'berth'] as const) {
      const r = await (cli === 'docker' ? daemon.docker(['system', 'df']) : daemon.berth(['system', 'df']));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\nImages\s+\d+\s+\d+\s+\S+\s+\S+ \(\d+%\)\nContainers\s+\d+\s+\d+\s+\S+\s+\S+.*\nLocal Volumes\s+0\s+0\s+0B\s+0B\nBuild Cache\s+0\s+0\s+0B\s+0B\n$/);
    }
    const verbose = await daemon.berth(['system', 'df', '-v']);
    assert.match(verbose.stdout, /^Images space usage:\n\nREPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\s+SHARED SIZE\s+UNIQUE SIZE\s+CONTAINERS$/m);

    // Prune: stopped containers and dangling images first, then -a everything unused.
    const p = await daemon.docker(['system', 'prune', '-f']);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /^Deleted Containers:\n[a-f0-9]{64}\n/m);
    assert.match(p.stdout, /^Total reclaimed space: /m);
    assert.equal((await daemon.docker(['ps', '-aq'])).stdout, '');
    assert.equal((await daemon.docker(['images', '--filter', 'dangling=true', '-q'])).stdout, '');
    assert.notEqual((await daemon.docker(['images', '-q'])).stdout, '');
    const all = await daemon.berth(['system', 'prune', '-a', '-f']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^untagged: committed:v1$/m);
    assert.equal((await daemon.docker(['images', '-q'])).stdout, '');
    const data = daemon.dataRoot;
    assert.deepEqual(readdirSync(join(data, 'snapshots')), [], 'no snapshot left');
    assert.deepEqual(readdirSync(join(data, 'content', 'blobs', 'sha256')), [], 'no blob left');
    assert.deepEqual(readdirSync(join(data, 'content', 'ingest')), []);
    assert.deepEqual(readdirSync(join(data, 'containers')), []);
    assert.deepEqual(existsSync(join(data, 'tmp')) ? readdirSync(join(data, 'tmp')) : [], []);
    const prompt = await daemon.berth(['system', 'prune'], { input: 'n\n' });
    assert.equal(prompt.code, 0);
    assert.match(prompt.stdout, /WARNING! This will remove:\n {2}- all stopped containers\n {2}- all dangling images\n/);
    assert.match(prompt.stdout, /berth keeps no build cache/);
    const withVolumes = await daemon.berth(['system', 'prune', '--volumes'], { input: 'n\n' });
    assert.equal(withVolumes.code, 0);
    assert.match(withVolumes.stdout, /- all stopped containers\n {2}- all anonymous volumes not used by at least one container\n/);
  });
});
