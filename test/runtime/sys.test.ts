// berth-sys.node: the native mount/umount/netns calls berthd uses instead of spawning programs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MNT_DETACH, MS_BIND, sysAddon, type SysError } from '../../src/runtime/sys.js';

const mounted = (p: string) => readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === p);

describe('berth-sys.node', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-sys-'));
  const sys = sysAddon();
  after(() => {
    for (const p of [join(dir, 'bind'), join(dir, 'merged'), join(dir, 'ns')]) if (mounted(p)) execFileSync('umount', ['-l', p]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('is built by npm run build', () => {
    assert.ok(sys, 'dist/native/berth-sys.node missing');
  });

  test('sealedCopy: an exact copy that runs, and that nothing can write to', () => {
    const fd = sys!.sealedCopy('/usr/bin/crun');
    const copy = `/proc/${process.pid}/fd/${fd}`;
    assert.deepEqual(readFileSync(copy), readFileSync('/usr/bin/crun'));
    assert.match(execFileSync(copy, ['--version'], { encoding: 'utf8' }), /crun version/);
    assert.throws(() => writeFileSync(copy, 'overwritten'), (err: NodeJS.ErrnoException) => err.code === 'EPERM');
    assert.throws(() => sys!.sealedCopy(join(dir, 'missing')), (err: SysError) => err.errno === 2 && err.message.includes('missing'));
    assert.throws(() => sys!.sealedCopy('relative/path'), TypeError);
  });

  test('markTopDir: sets the T attribute where the filesystem keeps it (lsattr agrees), refuses tmpfs quietly', () => {
    const top = join(dir, 'top');
    mkdirSync(top);
    const took = sys!.markTopDir(top);
    const fsType = execFileSync('stat', ['-f', '-c', '%T', top], { encoding: 'utf8' }).trim();
    if (fsType.startsWith('ext')) assert.equal(took, true, `${fsType} keeps the flag`);
    if (took) assert.match(execFileSync('lsattr', ['-d', top], { encoding: 'utf8' }).split(' ')[0], /T/);
    const shm = mkdtempSync('/dev/shm/berth-sys-');
    try {
      assert.equal(sys!.markTopDir(shm), false, 'tmpfs has no inode flags');
    } finally {
      rmSync(shm, { recursive: true });
    }
    assert.equal(sys!.markTopDir(join(dir, 'missing')), false);
    assert.throws(() => (sys!.markTopDir as (p?: string) => boolean)(), TypeError);
  });

  test('startWriteback: accepted for a written file, refused for a character device, bad arguments throw', () => {
    const file = join(dir, 'written');
    const fd = openSync(file, 'w');
    try {
      writeSync(fd, Buffer.alloc(1 << 20, 1));
      assert.equal(sys!.startWriteback(fd), true);
    } finally {
      closeSync(fd);
    }
    const devNull = openSync('/dev/null', 'w');
    try {
      assert.equal(sys!.startWriteback(devNull), false); // ESPIPE: not a regular file
    } finally {
      closeSync(devNull);
    }
    assert.throws(() => sys!.startWriteback(-1), TypeError);
  });

  test('bind mount and umount; errors carry the path and errno', () => {
    const src = join(dir, 'src');
    const target = join(dir, 'bind');
    mkdirSync(src);
    mkdirSync(target);
    writeFileSync(join(src, 'f'), 'x');
    sys!.mount(src, target, null, MS_BIND, null);
    assert.equal(readFileSync(join(target, 'f'), 'utf8'), 'x');
    sys!.umount(target, 0);
    assert.equal(mounted(target), false);
    assert.throws(() => sys!.umount(target, 0), (err: SysError) => err.errno === 22 && err.message.includes(target));
    assert.throws(() => sys!.mount(join(dir, 'nope'), target, null, MS_BIND, null), (err: SysError) => err.errno === 2);
  });

  test('overlay with lowerdir paths relative to a cwd, and the daemon cwd is restored', () => {
    for (const d of ['l1', 'l2', 'up', 'work', 'merged']) mkdirSync(join(dir, d));
    writeFileSync(join(dir, 'l1', 'a'), 'lower1');
    writeFileSync(join(dir, 'l2', 'b'), 'lower2');
    const cwdBefore = process.cwd();
    sys!.mount('overlay', join(dir, 'merged'), 'overlay', 0, 'lowerdir=l1:l2,upperdir=up,workdir=work', dir);
    assert.equal(process.cwd(), cwdBefore);
    assert.equal(readFileSync(join(dir, 'merged', 'a'), 'utf8'), 'lower1');
    assert.equal(readFileSync(join(dir, 'merged', 'b'), 'utf8'), 'lower2');
    writeFileSync(join(dir, 'merged', 'c'), 'upper');
    assert.equal(readFileSync(join(dir, 'up', 'c'), 'utf8'), 'upper');
    sys!.umount(join(dir, 'merged'), MNT_DETACH);
    assert.equal(mounted(join(dir, 'merged')), false);
  });

  test('createNetns: a new namespace with lo up; the calling thread stays in its own', () => {
    const before = readlinkSync('/proc/thread-self/ns/net');
    const path = join(dir, 'ns');
    writeFileSync(path, '');
    sys!.createNetns(path);
    assert.equal(readlinkSync('/proc/thread-self/ns/net'), before);
    const inside = execFileSync('nsenter', [`--net=${path}`, 'ip', '-o', 'link', 'show'], { encoding: 'utf8' });
    assert.match(inside, /^1: lo: <LOOPBACK,UP,LOWER_UP>/);
    assert.equal(inside.trim().split('\n').length, 1, 'only lo in a new namespace');
    const nsInode = execFileSync('nsenter', [`--net=${path}`, 'readlink', '/proc/self/ns/net'], { encoding: 'utf8' }).trim();
    assert.notEqual(nsInode, before);
    sys!.umount(path, 0);
  });

  test('async forms on the thread pool: bind mount, umount, netns; errors reject with errno', async () => {
    const src = join(dir, 'asrc');
    const target = join(dir, 'abind');
    mkdirSync(src);
    mkdirSync(target);
    writeFileSync(join(src, 'g'), 'y');
    await sys!.mountAsync(src, target, null, MS_BIND, null);
    assert.equal(readFileSync(join(target, 'g'), 'utf8'), 'y');
    await sys!.umountAsync(target, 0);
    assert.equal(mounted(target), false);
    await assert.rejects(sys!.umountAsync(target, 0), (err: SysError) => err.errno === 22 && err.message.includes(target));
    const before = readlinkSync('/proc/thread-self/ns/net');
    const nsPaths = [0, 1, 2, 3, 4, 5].map((i) => join(dir, `ans${i}`));
    for (const p of nsPaths) writeFileSync(p, '');
    // More at once than the pool has threads: every thread goes back to the daemon's namespace.
    await Promise.all(nsPaths.map((p) => sys!.createNetnsAsync(p)));
    const inodes = new Set(nsPaths.map((p) => execFileSync('nsenter', [`--net=${p}`, 'readlink', '/proc/self/ns/net'], { encoding: 'utf8' }).trim()));
    assert.equal(inodes.size, nsPaths.length);
    assert.equal(inodes.has(before), false);
    for (const p of nsPaths) await sys!.umountAsync(p, 0);
    // Every pool thread is back in the daemon's namespace: async readlink runs on the pool threads.
    const { readlink } = await import('node:fs/promises');
    const seen = await Promise.all(Array.from({ length: 16 }, () => readlink('/proc/thread-self/ns/net')));
    assert.deepEqual([...new Set(seen)], [before]);
  });
});
