import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import { applyLayer, cleanEntryPath, decompressStream } from '../../src/images/unpack.js';
import { MediaType } from '../../src/images/oci.js';
import { UnsafeLayerError } from '../../src/util/errors.js';
import { MTIME, buildTar, cleanup, getXattr, streamOf, tempDir, type TarEntrySpec } from './tar-helpers.js';

async function collect(r: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe('decompressStream', () => {
  const plain = Buffer.alloc(300_000, 'layer bytes ');
  const cases: Array<[string, Buffer, string | undefined]> = [
    ['gzip', zlib.gzipSync(plain), MediaType.ociLayerGzip],
    ['docker gzip', zlib.gzipSync(plain), MediaType.dockerLayerGzip],
    ['zstd', zstdCompress(plain), MediaType.ociLayerZstd],
    ['uncompressed', plain, MediaType.ociLayer],
    ['gzip mislabelled as tar (sniffed)', zlib.gzipSync(plain), MediaType.ociLayer],
    ['zstd with unknown media type (sniffed)', zstdCompress(plain), 'application/octet-stream'],
  ];
  for (const [name, data, mt] of cases) {
    it(name, async () => {
      assert.deepEqual(await collect(streamOf(data, 1000).pipe(decompressStream(mt))), plain);
    });
  }
  it('handles tiny and empty inputs', async () => {
    assert.deepEqual(await collect(Readable.from([Buffer.from('ab')]).pipe(decompressStream())), Buffer.from('ab'));
    assert.deepEqual(await collect(Readable.from([]).pipe(decompressStream())), Buffer.alloc(0));
  });
  it('fails on a corrupt gzip stream', async () => {
    const bad = zlib.gzipSync(plain);
    bad.fill(0x41, 20, 200);
    await assert.rejects(collect(streamOf(bad).pipe(decompressStream(MediaType.ociLayerGzip))));
  });
});

describe('cleanEntryPath', () => {
  it('cleans the way docker does, refusing escapes', () => {
    assert.deepEqual(cleanEntryPath('./a//b/./c/'), ['a', 'b', 'c']);
    assert.deepEqual(cleanEntryPath('/etc/passwd'), ['etc', 'passwd']);
    assert.deepEqual(cleanEntryPath('a/../b'), ['b']);
    assert.deepEqual(cleanEntryPath('./'), []);
    assert.throws(() => cleanEntryPath('../x'), UnsafeLayerError);
    assert.throws(() => cleanEntryPath('a/../../x'), UnsafeLayerError);
    assert.throws(() => cleanEntryPath('/../x'), UnsafeLayerError);
  });
});

describe('applyLayer', () => {
  let base: string;
  let n = 0;
  before(() => {
    base = tempDir('unpack');
  });
  after(() => cleanup(base));

  /** A fresh target plus an "outside" dir holding a probe file that no layer may touch. */
  function setup() {
    const root = join(base, `case-${n++}`);
    const target = join(root, 'target');
    const outside = join(root, 'outside');
    fs.mkdirSync(target, { recursive: true });
    fs.mkdirSync(outside);
    fs.writeFileSync(join(outside, 'probe'), 'original');
    fs.utimesSync(join(outside, 'probe'), MTIME, MTIME);
    fs.utimesSync(outside, MTIME, MTIME);
    return { root, target, outside };
  }

  function assertOutsideUntouched(outside: string) {
    assert.deepEqual(fs.readdirSync(outside), ['probe'], 'nothing new outside the target');
    assert.equal(fs.readFileSync(join(outside, 'probe'), 'utf8'), 'original');
    const st = fs.lstatSync(join(outside, 'probe'));
    assert.equal(st.isFile(), true);
    assert.equal(st.mtimeMs, MTIME.getTime());
    assert.equal(st.mode & 0o7777, 0o644);
    assert.equal(getXattr(outside, 'trusted.overlay.opaque'), undefined);
  }

  async function apply(target: string, entries: TarEntrySpec[]) {
    return applyLayer(streamOf(await buildTar(entries), 1000), target);
  }

  it('extracts files, modes, owners, mtimes, symlinks, hard links, dirs and fifos', async () => {
    const { target } = setup();
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'x');
    const res = await apply(target, [
      { name: './', type: 'directory', mode: 0o755 },
      { name: 'etc/', type: 'directory', mode: 0o750, uid: 12, gid: 34 },
      { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n', mode: 0o644 },
      { name: 'bin/', type: 'directory' },
      { name: 'bin/su', content: 'suid', mode: 0o4755, uid: 0, gid: 0 },
      { name: 'bin/tool', content: 'tool', mode: 0o2711, uid: 1000, gid: 1001 },
      { name: 'bin/big', content: big },
      { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox' },
      { name: 'bin/tool-link', type: 'link', linkname: 'bin/tool' },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
      { name: 'run/fifo', type: 'fifo', mode: 0o600, uid: 7, gid: 8 },
      { name: 'implicit/parent/file', content: 'deep' },
      { name: 'home/user/big-uid', content: 'x', pax: { uid: '3000000', gid: '3000001' } },
      { name: 'data/attr', content: 'x', pax: { 'SCHILY.xattr.user.comment': 'hi there' } },
      { name: 'data/' + 'long-directory-name/'.repeat(15) + 'f', content: 'long' },
    ]);
    assert.equal(res.size, 26 + 4 + 4 + big.length + 4 + 1 + 1 + 4);

    const st = (p: string) => fs.lstatSync(join(target, p));
    assert.equal(fs.readFileSync(join(target, 'etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
    assert.equal(st('etc').mode & 0o7777, 0o750);
    assert.equal(st('etc').uid, 12);
    assert.equal(st('etc').gid, 34);
    assert.equal(st('etc').mtimeMs, MTIME.getTime(), 'dir mtime survives children being added');
    assert.equal(st('etc/passwd').mtimeMs, MTIME.getTime());
    assert.equal(st('bin/su').mode & 0o7777, 0o4755, 'setuid kept');
    assert.equal(st('bin/tool').mode & 0o7777, 0o2711, 'setgid kept after chown');
    assert.equal(st('bin/tool').uid, 1000);
    assert.equal(st('bin/tool').gid, 1001);
    assert.deepEqual(fs.readFileSync(join(target, 'bin/big')), big);
    assert.equal(st('bin/sh').isSymbolicLink(), true);
    assert.equal(fs.readlinkSync(join(target, 'bin/sh')), '/bin/busybox');
    assert.equal(st('bin/sh').mtimeMs, MTIME.getTime());
    assert.equal(st('bin/tool-link').ino, st('bin/tool').ino, 'hard link shares the inode');
    assert.equal(st('tmp').mode & 0o7777, 0o1777);
    assert.equal(st('run/fifo').isFIFO(), true);
    assert.equal(st('run/fifo').mode & 0o7777, 0o600);
    assert.equal(st('run/fifo').uid, 7);
    assert.equal(st('implicit/parent').isDirectory(), true);
    assert.equal(st('implicit/parent').mode & 0o7777, 0o755);
    assert.equal(st('home/user/big-uid').uid, 3000000, 'PAX uid beyond the ustar field');
    assert.equal(st('home/user/big-uid').gid, 3000001);
    assert.equal(getXattr(join(target, 'data/attr'), 'user.comment'), 'hi there');
    assert.equal(fs.readFileSync(join(target, 'data/' + 'long-directory-name/'.repeat(15) + 'f'), 'utf8'), 'long');
    assert.deepEqual(
      fs.readdirSync(target).filter((f) => f.startsWith('.berth')),
      [],
      'no helper files left in the layer',
    );
  });

  it('converts whiteouts to overlay format: char 0:0 and trusted.overlay.opaque', async () => {
    const { target } = setup();
    await apply(target, [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.old.conf' },
      { name: 'etc/.wh.other' },
      { name: '.wh.toplevel' },
      { name: 'var/', type: 'directory' },
      { name: 'var/cache/', type: 'directory', mode: 0o700 },
      { name: 'var/cache/.wh..wh..opq' },
      { name: 'var/cache/kept', content: 'k' },
      { name: 'usr/.wh..wh.plnk/', type: 'directory' }, // aufs bookkeeping: skipped
    ]);
    for (const p of ['etc/old.conf', 'etc/other', 'toplevel']) {
      const st = fs.lstatSync(join(target, p));
      assert.equal(st.isCharacterDevice(), true, p);
      assert.equal(st.rdev, 0, p);
    }
    assert.equal(fs.existsSync(join(target, 'etc/.wh.old.conf')), false);
    assert.equal(getXattr(join(target, 'var/cache'), 'trusted.overlay.opaque'), 'y');
    assert.equal(getXattr(join(target, 'var'), 'trusted.overlay.opaque'), undefined);
    assert.equal(fs.readFileSync(join(target, 'var/cache/kept'), 'utf8'), 'k');
    assert.deepEqual(fs.readdirSync(join(target, 'usr')), []);
    // Snapshots with whiteouts must be removable.
    fs.rmSync(target, { recursive: true });
  });

  it('an opaque marker before its directory entry still applies (spec: order does not matter)', async () => {
    const { target } = setup();
    await apply(target, [
      { name: 'a/.wh..wh..opq' },
      { name: 'a/', type: 'directory', mode: 0o711 },
      { name: 'a/b/c/foo', content: 'f' },
    ]);
    assert.equal(getXattr(join(target, 'a'), 'trusted.overlay.opaque'), 'y');
    assert.equal(fs.lstatSync(join(target, 'a')).mode & 0o7777, 0o711);
  });

  it('a whiteout does not hide an entry of the same layer; a dir recreated after a whiteout is opaque', async () => {
    const { target } = setup();
    await apply(target, [
      { name: 'same', content: 'stays' },
      { name: '.wh.same' },
      { name: '.wh.redo' },
      { name: 'redo/', type: 'directory' },
      { name: 'redo/new', content: 'n' },
    ]);
    assert.equal(fs.readFileSync(join(target, 'same'), 'utf8'), 'stays');
    assert.equal(fs.lstatSync(join(target, 'redo')).isDirectory(), true);
    assert.equal(getXattr(join(target, 'redo'), 'trusted.overlay.opaque'), 'y');
  });

  it('replaces earlier entries of the same layer: symlink → file, file → dir, dir → file, file → symlink', async () => {
    const { target, outside } = setup();
    await apply(target, [
      { name: 'link', type: 'symlink', linkname: join(outside, 'probe') },
      { name: 'link', content: 'now a regular file' },
      { name: 'dirlink', type: 'symlink', linkname: outside },
      { name: 'dirlink/', type: 'directory' },
      { name: 'dirlink/inside', content: 'inside' },
      { name: 'f', content: 'file' },
      { name: 'f/', type: 'directory' },
      { name: 'f/child', content: 'c' },
      { name: 'd/', type: 'directory' },
      { name: 'd/sub/deep', content: 'x' },
      { name: 'd', content: 'dir became a file' },
      { name: 'g', content: 'g' },
      { name: 'g', type: 'symlink', linkname: '../../../anywhere' },
    ]);
    assert.equal(fs.lstatSync(join(target, 'link')).isFile(), true);
    assert.equal(fs.readFileSync(join(target, 'link'), 'utf8'), 'now a regular file');
    assert.equal(fs.lstatSync(join(target, 'dirlink')).isDirectory(), true);
    assert.equal(fs.readFileSync(join(target, 'dirlink/inside'), 'utf8'), 'inside');
    assert.equal(fs.readFileSync(join(target, 'f/child'), 'utf8'), 'c');
    assert.equal(fs.readFileSync(join(target, 'd'), 'utf8'), 'dir became a file');
    assert.equal(fs.readlinkSync(join(target, 'g')), '../../../anywhere', 'a symlink may point anywhere');
    assertOutsideUntouched(outside);
  });

  it('contains absolute paths inside the target, as docker does', async () => {
    const { target, outside } = setup();
    await apply(target, [
      { name: join(outside, 'probe'), content: 'contained' },
      { name: '/abs/file', content: 'abs' },
      { name: 'hl', type: 'link', linkname: '/abs/file' },
    ]);
    assert.equal(fs.readFileSync(join(target, outside, 'probe'), 'utf8'), 'contained');
    assert.equal(fs.readFileSync(join(target, 'abs/file'), 'utf8'), 'abs');
    assert.equal(fs.lstatSync(join(target, 'hl')).ino, fs.lstatSync(join(target, 'abs/file')).ino);
    assertOutsideUntouched(outside);
  });

  // Each hostile layer: refused with UnsafeLayerError naming the entry, the probe untouched.
  const hostile: Array<[string, (outside: string) => TarEntrySpec[], RegExp]> = [
    ['.. escaping the root', () => [{ name: '../outside/probe', content: 'pwned' }], /escapes/],
    ['.. escaping after a component', () => [{ name: 'a/../../outside/probe', content: 'pwned' }], /escapes/],
    ['directory with .. escaping', () => [{ name: '../outside/newdir/', type: 'directory' }], /escapes/],
    [
      'file through a symlinked parent (absolute link)',
      (outside) => [
        { name: 'evil', type: 'symlink', linkname: outside },
        { name: 'evil/probe', content: 'pwned' },
      ],
      /"evil\/probe".*symbolic link/,
    ],
    [
      'file through a symlinked parent (relative ..)',
      () => [
        { name: 'evil', type: 'symlink', linkname: '../outside' },
        { name: 'evil/probe', content: 'pwned' },
      ],
      /symbolic link/,
    ],
    [
      'directory through a symlinked parent',
      (outside) => [
        { name: 'evil', type: 'symlink', linkname: outside },
        { name: 'evil/newdir/', type: 'directory' },
      ],
      /symbolic link/,
    ],
    [
      'symlink created through a symlinked parent',
      (outside) => [
        { name: 'evil', type: 'symlink', linkname: outside },
        { name: 'evil/newlink', type: 'symlink', linkname: '/' },
      ],
      /symbolic link/,
    ],
    [
      'deep path through a symlink in the middle',
      (outside) => [
        { name: 'a/b/', type: 'directory' },
        { name: 'a/b/c', type: 'symlink', linkname: join(outside, '..') },
        { name: 'a/b/c/outside/probe', content: 'pwned' },
      ],
      /"a\/b\/c" is a symbolic link/,
    ],
    [
      'symlink chain climbing out',
      () => [
        { name: 'a', type: 'symlink', linkname: '..' },
        { name: 'b', type: 'symlink', linkname: 'a/..' },
        { name: 'c', type: 'symlink', linkname: 'b/outside' },
        { name: 'c/probe', content: 'pwned' },
      ],
      /symbolic link/,
    ],
    [
      'whiteout through a symlinked directory',
      (outside) => [
        { name: 'evil', type: 'symlink', linkname: outside },
        { name: 'evil/.wh.probe' },
      ],
      /symbolic link/,
    ],
    [
      'opaque whiteout through a symlinked directory',
      (outside) => [
        { name: 'evil', type: 'symlink', linkname: outside },
        { name: 'evil/.wh..wh..opq' },
      ],
      /symbolic link/,
    ],
    ['hard link whose target escapes', () => [{ name: 'hl', type: 'link', linkname: '../outside/probe' }], /escapes/],
    [
      'hard link whose target passes through a symlink',
      (outside) => [
        { name: 'evil', type: 'symlink', linkname: outside },
        { name: 'hl', type: 'link', linkname: 'evil/probe' },
      ],
      /passes through a symbolic link/,
    ],
    ['hard link to a path outside this layer (absolute)', (outside) => [{ name: 'hl', type: 'link', linkname: join(outside, 'probe') }], /does not exist in this layer/],
    [
      'hard link placed through a symlinked parent',
      (outside) => [
        { name: 'f', content: 'x' },
        { name: 'evil', type: 'symlink', linkname: outside },
        { name: 'evil/hl', type: 'link', linkname: 'f' },
      ],
      /symbolic link/,
    ],
    ['character device', () => [{ name: 'dev/mem', type: 'character-device', devmajor: 1, devminor: 1 }], /device nodes/],
    ['block device', () => [{ name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 }], /device nodes/],
    ['file under a regular file', () => [{ name: 'f', content: 'x' }, { name: 'f/x/y', content: 'y' }], /not a directory/],
    ['empty whiteout name', () => [{ name: 'dir/.wh.' }], /invalid whiteout/],
  ];
  for (const [name, entries, reason] of hostile) {
    it(`refuses: ${name}`, async () => {
      const { target, outside } = setup();
      await assert.rejects(apply(target, entries(outside)), (err: unknown) => {
        assert.ok(err instanceof UnsafeLayerError, `expected UnsafeLayerError, got ${String(err)}`);
        assert.match(err.message, reason);
        return true;
      });
      assertOutsideUntouched(outside);
      assert.equal(fs.existsSync(join(target, '..', 'probe')), false);
    });
  }

  it('rejects a truncated tar', async () => {
    const { target } = setup();
    const tar = await buildTar([{ name: 'f', content: Buffer.alloc(10_000, 1) }]);
    await assert.rejects(applyLayer(streamOf(tar.subarray(0, 3000)), target));
  });

  it('mounts as overlay: a whiteout in the upper snapshot hides the lower file, opaque hides a dir', async (t) => {
    const { root } = setup();
    const lower = join(root, 'lower');
    const upper = join(root, 'upper');
    const merged = join(root, 'merged');
    for (const d of [lower, upper, merged]) fs.mkdirSync(d);
    await apply(lower, [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/gone', content: 'lower file' },
      { name: 'etc/kept', content: 'kept' },
      { name: 'opaque/', type: 'directory' },
      { name: 'opaque/old', content: 'old' },
    ]);
    await apply(upper, [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.gone' },
      { name: 'opaque/', type: 'directory' },
      { name: 'opaque/.wh..wh..opq' },
      { name: 'opaque/new', content: 'new' },
    ]);
    try {
      execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${upper}:${lower}`, merged], { stdio: 'pipe' });
    } catch (err) {
      t.skip(`overlay mount unavailable: ${String((err as { stderr?: Buffer }).stderr ?? err)}`);
      return;
    }
    try {
      assert.deepEqual(fs.readdirSync(join(merged, 'etc')).sort(), ['kept']);
      assert.equal(fs.existsSync(join(merged, 'etc/gone')), false);
      assert.equal(fs.readFileSync(join(merged, 'etc/kept'), 'utf8'), 'kept');
      assert.deepEqual(fs.readdirSync(join(merged, 'opaque')), ['new']);
    } finally {
      execFileSync('umount', [merged]);
    }
  });
});
