// Unit tests for the pieces behind load/import/commit/cp: --change parsing, the archive reader's
// refusal of hostile member names and links, and path resolution inside a container root.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import tar from 'tar-stream';
import { resolveInRoot, statInRoot } from '../../src/containers/archive.js';
import { applyChanges } from '../../src/images/changes.js';
import { archivePath, ExtractedArchive } from '../../src/images/tar-archive.js';

const work = mkdtempSync(join(tmpdir(), 'berth-imageio-'));
after(() => rmSync(work, { recursive: true, force: true }));

async function tarOf(entries: Array<{ name: string; data?: string; type?: 'file' | 'symlink' | 'link' | 'directory'; linkname?: string }>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    const isFile = !e.type || e.type === 'file';
    await new Promise<void>((res, rej) => pack.entry({ name: e.name, type: e.type ?? 'file', linkname: e.linkname, size: isFile ? data.length : 0 } as tar.Header, isFile ? data : Buffer.alloc(0), (err) => (err ? rej(err) : res())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

describe('--change', () => {
  test('exec and shell forms, ENV/LABEL pairs, EXPOSE, VOLUME, WORKDIR, USER', () => {
    const c = applyChanges({ Env: ['PATH=/bin', 'A=1'] }, [
      'CMD ["echo", "hi"]',
      'ENTRYPOINT /bin/run --flag',
      'ENV A=2 B="two words"',
      'ENV C three words',
      'LABEL x=1 "y z"=2',
      'EXPOSE 80 53/udp',
      'VOLUME ["/data"]',
      'WORKDIR /srv',
      'WORKDIR app',
      'user nobody',
      'STOPSIGNAL SIGINT',
    ]);
    assert.deepEqual(c.Cmd, ['echo', 'hi']);
    assert.deepEqual(c.Entrypoint, ['/bin/sh', '-c', '/bin/run --flag']);
    assert.deepEqual(c.Env, ['PATH=/bin', 'A=2', 'B=two words', 'C=three words']);
    assert.deepEqual(c.Labels, { x: '1', 'y z': '2' });
    assert.deepEqual(Object.keys(c.ExposedPorts ?? {}), ['80/tcp', '53/udp']);
    assert.deepEqual(c.Volumes, { '/data': {} });
    assert.equal(c.WorkingDir, '/srv/app');
    assert.equal(c.User, 'nobody');
    assert.equal(c.StopSignal, 'SIGINT');
  });

  test('instructions docker refuses', () => {
    assert.throws(() => applyChanges({}, ['FROM busybox']), /FROM is not a valid change command/);
    assert.throws(() => applyChanges({}, ['RUN rm -rf /']), /RUN is not a valid change command/);
    assert.throws(() => applyChanges({}, ['EXPOSE abc']), /invalid containerPort/);
  });
});

describe('archive reader', () => {
  test('member names: relative only', () => {
    assert.equal(archivePath('./blobs/sha256/ab'), 'blobs/sha256/ab');
    assert.throws(() => archivePath('../x'), /outside the archive/);
    assert.throws(() => archivePath('a/../../x'), /outside the archive/);
    assert.throws(() => archivePath('/etc/passwd'), /absolute path/);
  });

  test('hostile archives are refused and leave nothing behind; links inside resolve', async () => {
    const parent = join(work, 'tmp');
    const bad = [
      [{ name: '../../escape', data: 'x' }],
      [{ name: '/abs', data: 'x' }],
      [{ name: 'dev', type: 'directory' as const }, { name: 'null-ish', type: 'link' as const, linkname: '../../etc/passwd' }],
      [{ name: 'out', type: 'symlink' as const, linkname: '../../../etc/passwd' }],
      [{ name: 'abs', type: 'symlink' as const, linkname: '/etc/passwd' }],
    ];
    for (const entries of bad) {
      await assert.rejects(ExtractedArchive.read(Readable.from(await tarOf(entries)), parent), /invalid archive/);
    }
    assert.deepEqual(readdirSync(parent), [], 'temp dirs removed');
    const archive = await ExtractedArchive.read(
      Readable.from(
        await tarOf([
          { name: 'blobs/sha256/aa', data: 'layer' },
          { name: 'id/layer.tar', type: 'symlink', linkname: '../blobs/sha256/aa' },
          { name: 'hard', type: 'link', linkname: 'blobs/sha256/aa' },
        ]),
      ),
      parent,
    );
    try {
      assert.equal((await archive.readSmall('id/layer.tar')).toString(), 'layer');
      assert.equal((await archive.readSmall('hard')).toString(), 'layer');
      assert.equal(archive.resolve('missing'), undefined);
    } finally {
      await archive.dispose();
    }
    assert.deepEqual(readdirSync(parent), []);
  });
});

describe('paths inside a container root', () => {
  const root = join(work, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'data/sub'), { recursive: true, mode: 0o755 });
  writeFileSync(join(root, 'etc/passwd'), 'container\n');
  symlinkSync('/etc/passwd', join(root, 'abs'));
  symlinkSync('../../../../../../..', join(root, 'data/up'));
  symlinkSync('/', join(root, 'data/rootlink'));
  symlinkSync('loop2', join(root, 'loop1'));
  symlinkSync('loop1', join(root, 'loop2'));

  test('absolute links and ../ stay inside the root', () => {
    assert.equal(resolveInRoot(root, '/abs', true).host, join(root, 'etc/passwd'));
    assert.equal(resolveInRoot(root, '/abs', false).host, join(root, 'abs'));
    assert.equal(resolveInRoot(root, '/data/up/etc/passwd', true).host, join(root, 'etc/passwd'));
    assert.equal(resolveInRoot(root, '/../../../etc/passwd', true).host, join(root, 'etc/passwd'));
    assert.equal(resolveInRoot(root, '/data/rootlink/etc', true).inside, '/etc');
    assert.throws(() => resolveInRoot(root, '/loop1', true), /too many levels of symbolic links/);
  });

  test('stat: the link itself, its target inside the container, Go file modes', () => {
    const s = statInRoot(root, '/abs');
    assert.equal(s.stat.name, 'abs');
    assert.equal(s.stat.linkTarget, '/etc/passwd');
    assert.ok(s.stat.mode >= 2 ** 27 && s.stat.mode < 2 ** 28, 'ModeSymlink');
    assert.equal(statInRoot(root, '/data').stat.mode, 2 ** 31 + 0o755, 'ModeDir | 0755');
    assert.throws(() => statInRoot(root, '/nope'), /Could not find the file \/nope/);
  });
});
