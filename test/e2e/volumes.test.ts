// Volumes end to end through the docker CLI and the berth CLI against berthd: volume
// create/ls/inspect/rm/prune, named volumes filled from the image and kept across container
// removal and a daemon restart, bind mounts (ro really read-only), tmpfs, VOLUME's anonymous
// volumes and rm -v, --volumes-from, in-use refusals, system df/prune, bad input, and a symlink
// in the image that must not carry a mount out of the container.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusybox } from '../fixtures/images.js';
import type { RunningRegistry } from '../fixtures/registry.js';
import { startStack, type TestDaemon } from './harness.js';

describe('volumes', () => {
  let registry: RunningRegistry;
  let daemon: TestDaemon;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  const image = () => `${registry.host}/library/busybox:latest`;
  const docker = async (args: string[], expect = 0) => {
    const r = await daemon.docker(args);
    assert.equal(r.code, expect, `docker ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r;
  };
  const berth = async (args: string[], expect = 0) => {
    const r = await daemon.berth(args);
    assert.equal(r.code, expect, `berth ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r;
  };
  const volumeNames = async () => (await docker(['volume', 'ls', '-q'])).stdout.split('\n').filter(Boolean);

  before(async () => {
    stack = await startStack({ mirror: false, seed: pushBusybox });
    ({ registry, daemon } = stack);
    await docker(['pull', image()]);
    // An image with content under a VOLUME: what copy-up and anonymous volumes work from.
    await docker(['run', '--name', 'seed', image(), 'sh', '-c', 'mkdir -p /data && echo from-image > /data/f']);
    await docker(['commit', '--change', 'VOLUME ["/data"]', 'seed', 'volimg:1']);
    await docker(['rm', 'seed']);
  });

  after(async () => {
    await stack?.stop();
  });

  test('docker volume create/ls/inspect/rm with labels and filters', async () => {
    assert.equal((await docker(['volume', 'create', '--label', 'team=a', 'vol-a'])).stdout, 'vol-a\n');
    await docker(['volume', 'create', 'vol-b']);
    const [v] = JSON.parse((await docker(['volume', 'inspect', 'vol-a'])).stdout);
    assert.equal(v.Name, 'vol-a');
    assert.equal(v.Driver, 'local');
    assert.equal(v.Scope, 'local');
    assert.deepEqual(v.Labels, { team: 'a' });
    assert.equal(v.Mountpoint, join(daemon.dataRoot, 'volumes', 'vol-a', '_data'));
    assert.match(v.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(existsSync(v.Mountpoint));
    const ls = (await docker(['volume', 'ls'])).stdout;
    assert.match(ls, /^DRIVER\s+VOLUME NAME\n/);
    assert.match(ls, /^local\s+vol-a$/m);
    assert.deepEqual((await docker(['volume', 'ls', '-q', '--filter', 'label=team=a'])).stdout, 'vol-a\n');
    assert.deepEqual((await docker(['volume', 'ls', '-q', '--filter', 'name=vol-b'])).stdout, 'vol-b\n');
    assert.match((await docker(['volume', 'ls', '-q', '--filter', 'dangling=true'])).stdout, /vol-a\nvol-b\n/);
    assert.equal((await docker(['volume', 'ls', '-q', '--filter', 'driver=local', '--filter', 'name=vol-a'])).stdout, 'vol-a\n');
    const bad = await docker(['volume', 'ls', '--filter', 'colour=red'], 1);
    assert.match(bad.stderr, /invalid filter 'colour'/);
    assert.equal((await docker(['volume', 'rm', 'vol-a', 'vol-b'])).stdout, 'vol-a\nvol-b\n');
    const missing = await docker(['volume', 'inspect', 'vol-a'], 1);
    assert.match(missing.stderr, /Error response from daemon: get vol-a: no such volume/);
    const rmMissing = await docker(['volume', 'rm', 'vol-a'], 1);
    assert.match(rmMissing.stderr, /no such volume/);
    assert.equal((await daemon.api('GET', '/volumes/vol-a')).status, 404);
  });

  test('berth volume create/ls/inspect/rm, driver options and bad input', async () => {
    assert.equal((await berth(['volume', 'create', '--label', 'k=v', 'bvol'])).stdout, 'bvol\n');
    assert.match((await berth(['volume', 'ls'])).stdout, /^local\s+bvol$/m);
    assert.equal((await berth(['volume', 'ls', '-q', '--filter', 'label=k'])).stdout, 'bvol\n');
    assert.equal((await berth(['volume', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Labels}}', 'bvol'])).stdout, 'bvol local map[k:v]\n');
    const anon = (await berth(['volume', 'create'])).stdout.trim();
    assert.match(anon, /^[0-9a-f]{64}$/);
    // The local driver's options: a tmpfs volume is a tmpfs where a container sees it.
    await berth(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=2m', 'tmpvol']);
    const r = await berth(['run', '--rm', '-v', 'tmpvol:/t', image(), 'sh', '-c', 'grep " /t " /proc/mounts']);
    assert.match(r.stdout, /^tmpfs \/t tmpfs .*size=2048k/);
    // type=none,o=bind: the volume is a host directory.
    const hostDir = join(daemon.dir, 'bound-volume');
    mkdirSync(hostDir, { recursive: true });
    await docker(['volume', 'create', '--opt', 'type=none', '--opt', 'o=bind', '--opt', `device=${hostDir}`, 'bindvol']);
    await docker(['run', '--rm', '-v', 'bindvol:/b', image(), 'sh', '-c', 'echo via-volume > /b/f']);
    assert.equal(readFileSync(join(hostDir, 'f'), 'utf8'), 'via-volume\n');
    await docker(['volume', 'rm', 'bindvol']);
    assert.equal(readFileSync(join(hostDir, 'f'), 'utf8'), 'via-volume\n', 'removing the volume leaves the bound directory alone');
    const badOpt = await berth(['volume', 'create', '-o', 'colour=red', 'badvol'], 1);
    assert.equal(badOpt.stderr, 'Error response from daemon: create badvol: invalid option: "colour"\n');
    const missingDevice = await docker(['volume', 'create', '-o', 'type=tmpfs', 'badvol'], 1);
    assert.match(missingDevice.stderr, /create badvol: missing required option: "device"/);
    const badName = await docker(['volume', 'create', 'a/b'], 1);
    assert.match(badName.stderr, /"a\/b" includes invalid characters for a local volume name, only "\[a-zA-Z0-9\]\[a-zA-Z0-9_.-\]" are allowed/);
    assert.ok(!(await volumeNames()).includes('badvol'));
    assert.equal((await berth(['volume', 'rm', 'bvol', anon, 'tmpvol'])).stdout, `bvol\n${anon}\ntmpvol\n`);
    assert.equal((await daemon.api('DELETE', '/volumes/nothere')).status, 404);
    assert.equal((await daemon.api('DELETE', '/volumes/nothere?force=1')).status, 204);
  });

  test('a named volume is filled from the image, survives rm and a daemon restart', async () => {
    assert.equal((await docker(['run', '--rm', '-v', 'keep:/data', 'volimg:1', 'cat', '/data/f'])).stdout, 'from-image\n');
    await docker(['run', '--name', 'writer', '-v', 'keep:/data', image(), 'sh', '-c', 'echo written > /data/x']);
    const [mount] = JSON.parse((await docker(['inspect', '-f', '{{json .Mounts}}', 'writer'])).stdout);
    assert.deepEqual(mount, {
      Type: 'volume',
      Name: 'keep',
      Source: join(daemon.dataRoot, 'volumes', 'keep', '_data'),
      Destination: '/data',
      Driver: 'local',
      Mode: 'z',
      RW: true,
      Propagation: '',
    });
    await docker(['rm', '-v', 'writer']);
    assert.ok((await volumeNames()).includes('keep'), 'rm -v keeps a named volume');
    await daemon.stopDaemon();
    await daemon.start();
    assert.equal((await berth(['run', '--rm', '-v', 'keep:/data', image(), 'cat', '/data/x', '/data/f'])).stdout, 'written\nfrom-image\n');
    // nocopy: an empty volume stays empty.
    assert.equal((await docker(['run', '--rm', '--mount', 'type=volume,src=empty1,dst=/data,volume-nocopy', 'volimg:1', 'ls', '/data'])).stdout, '');
    assert.equal((await docker(['run', '--rm', '-v', 'empty2:/data:nocopy', 'volimg:1', 'ls', '/data'])).stdout, '');
    await docker(['volume', 'rm', 'keep', 'empty1', 'empty2']);
  });

  test('bind mounts: rw writes reach the host, ro is read-only, -v makes the host dir, --mount does not', async () => {
    const host = join(daemon.dir, 'bind-src');
    mkdirSync(host, { recursive: true });
    writeFileSync(join(host, 'f'), 'on-host\n');
    await docker(['run', '--rm', '-v', `${host}:/h`, image(), 'sh', '-c', 'cat /h/f && echo from-ctr > /h/g']);
    assert.equal(readFileSync(join(host, 'g'), 'utf8'), 'from-ctr\n');
    const ro = await daemon.docker(['run', '--rm', '-v', `${host}:/h:ro`, image(), 'sh', '-c', 'cat /h/f; echo x > /h/new']);
    assert.notEqual(ro.code, 0);
    assert.equal(ro.stdout, 'on-host\n');
    assert.match(ro.stderr, /Read-only file system/);
    assert.ok(!existsSync(join(host, 'new')));
    const roMount = await daemon.berth(['run', '--rm', '--mount', `type=bind,source=${host},target=/h,readonly`, image(), 'touch', '/h/new2']);
    assert.notEqual(roMount.code, 0);
    assert.match(roMount.stderr, /Read-only file system/);
    // The container cannot make a read-only bind writable again.
    const remount = await daemon.docker(['run', '--rm', '-v', `${host}:/h:ro`, image(), 'sh', '-c', 'mount -o remount,rw /h && touch /h/new3']);
    assert.notEqual(remount.code, 0);
    assert.ok(!existsSync(join(host, 'new3')));

    await docker(['create', '--name', 'binder', '-v', `${host}:/h:ro`, '--mount', `type=bind,src=${host},dst=/m`, image(), 'true']);
    const mounts = JSON.parse((await docker(['inspect', '-f', '{{json .Mounts}}', 'binder'])).stdout);
    assert.deepEqual(mounts, [
      { Type: 'bind', Source: host, Destination: '/h', Mode: 'ro', RW: false, Propagation: 'rprivate' },
      { Type: 'bind', Source: host, Destination: '/m', Mode: '', RW: true, Propagation: 'rprivate' },
    ]);
    assert.equal((await docker(['inspect', '-f', '{{json .HostConfig.Binds}}', 'binder'])).stdout.trim(), JSON.stringify([`${host}:/h:ro`]));
    await docker(['rm', 'binder']);

    const made = join(daemon.dir, 'made-by-v');
    await docker(['run', '--rm', '-v', `${made}:/m`, image(), 'true']);
    assert.ok(existsSync(made), '-v creates a missing host directory');
    const noSrc = await docker(['run', '--rm', '--mount', `type=bind,src=${join(daemon.dir, 'absent')},dst=/m`, image(), 'true'], 125);
    assert.match(noSrc.stderr, /invalid mount config for type "bind": bind source path does not exist: .*absent/);
  });

  test('tmpfs mounts from --tmpfs and --mount type=tmpfs', async () => {
    const a = await docker(['run', '--rm', '--tmpfs', '/scratch:size=1m', image(), 'grep', ' /scratch ', '/proc/mounts']);
    assert.match(a.stdout, /^tmpfs \/scratch tmpfs rw,nosuid,nodev,noexec,.*size=1024k/);
    const b = await berth(['run', '--rm', '--mount', 'type=tmpfs,target=/t,tmpfs-size=2m,tmpfs-mode=1770', image(), 'sh', '-c', 'grep " /t " /proc/mounts; stat -c %a /t']);
    assert.match(b.stdout, /^tmpfs \/t tmpfs .*size=2048k.*mode=1770/);
    assert.match(b.stdout, /\n1770\n$/);
    await docker(['create', '--name', 'tmpfser', '--tmpfs', '/a', '--mount', 'type=tmpfs,dst=/b', image(), 'true']);
    // docker lists --mount tmpfs under Mounts, not --tmpfs (that one is in HostConfig.Tmpfs).
    assert.deepEqual(JSON.parse((await docker(['inspect', '-f', '{{json .Mounts}}', 'tmpfser'])).stdout), [
      { Type: 'tmpfs', Source: '', Destination: '/b', Mode: '', RW: true, Propagation: '' },
    ]);
    assert.equal((await docker(['inspect', '-f', '{{json .HostConfig.Tmpfs}}', 'tmpfser'])).stdout.trim(), '{"/a":""}');
    await docker(['rm', 'tmpfser']);
  });

  test("VOLUME makes anonymous volumes: rm keeps them, rm -v and run --rm remove them", async () => {
    const before = new Set(await volumeNames());
    await docker(['create', '--name', 'anon1', 'volimg:1', 'true']);
    const [m] = JSON.parse((await docker(['inspect', '-f', '{{json .Mounts}}', 'anon1'])).stdout);
    assert.match(m.Name, /^[0-9a-f]{64}$/);
    assert.equal(m.Destination, '/data');
    assert.equal(m.Type, 'volume');
    const [v] = JSON.parse((await docker(['volume', 'inspect', m.Name])).stdout);
    assert.deepEqual(v.Labels, { 'com.docker.volume.anonymous': '' });
    await docker(['rm', 'anon1']);
    assert.ok((await volumeNames()).includes(m.Name), 'rm without -v keeps the anonymous volume');
    await docker(['volume', 'rm', m.Name]);

    await docker(['create', '--name', 'anon2', '-v', '/extra', 'volimg:1', 'true']);
    const names2 = (JSON.parse((await docker(['inspect', '-f', '{{json .Mounts}}', 'anon2'])).stdout) as Array<{ Name: string }>).map((x) => x.Name);
    assert.equal(names2.length, 2);
    await berth(['rm', '-v', 'anon2']);
    for (const n of names2) assert.ok(!(await volumeNames()).includes(n), 'rm -v removes anonymous volumes');

    assert.equal((await docker(['run', '--rm', 'volimg:1', 'cat', '/data/f'])).stdout, 'from-image\n');
    // run --rm removes the container once it exited, and its anonymous volume with it.
    for (let i = 0; i < 50 && (await volumeNames()).some((n) => !before.has(n)); i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual((await volumeNames()).filter((n) => !before.has(n)), []);
  });

  test('--volumes-from shares the mounts, :ro makes them read-only; a used volume cannot be removed', async () => {
    await docker(['run', '--name', 'vsrc', '-v', 'shared:/s', image(), 'sh', '-c', 'echo shared-data > /s/y']);
    assert.equal((await docker(['run', '--rm', '--volumes-from', 'vsrc', image(), 'cat', '/s/y'])).stdout, 'shared-data\n');
    const ro = await daemon.berth(['run', '--rm', '--volumes-from', 'vsrc:ro', image(), 'touch', '/s/z']);
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
    const missing = await docker(['run', '--rm', '--volumes-from', 'nosuch', image(), 'true'], 125);
    assert.match(missing.stderr, /No such container: nosuch/);

    const vsrcId = (await docker(['inspect', '-f', '{{.Id}}', 'vsrc'])).stdout.trim();
    const inUse = await docker(['volume', 'rm', 'shared'], 1);
    assert.equal(inUse.stderr, `Error response from daemon: remove shared: volume is in use - [${vsrcId}]\n`);
    const viaBerth = await berth(['volume', 'rm', 'shared'], 1);
    assert.match(viaBerth.stderr, /volume is in use/);
    assert.equal((await daemon.api('DELETE', '/volumes/shared')).status, 409);
    assert.ok((await volumeNames()).includes('shared'));
    assert.equal((await docker(['volume', 'ls', '-q', '--filter', 'dangling=false'])).stdout.split('\n').includes('shared'), true);
    assert.equal((await docker(['ps', '-a', '-q', '--filter', 'volume=shared'])).stdout.trim(), vsrcId.slice(0, 12));
    await docker(['rm', 'vsrc']);
    await docker(['volume', 'rm', 'shared']);
  });

  test('volume prune takes unused anonymous volumes, -a named ones too; system df and system prune --volumes', async () => {
    await docker(['volume', 'create', 'named-unused']);
    await docker(['volume', 'create', 'named-used']);
    await docker(['create', '--name', 'holder', '-v', 'named-used:/u', image(), 'true']);
    await docker(['create', '--name', 'anonholder', 'volimg:1', 'true']);
    const anon = JSON.parse((await docker(['inspect', '-f', '{{json .Mounts}}', 'anonholder'])).stdout)[0].Name as string;
    await docker(['rm', 'anonholder']);
    writeFileSync(join(daemon.dataRoot, 'volumes', 'named-unused', '_data', 'blob'), Buffer.alloc(4096));

    const df = (await docker(['system', 'df'])).stdout;
    assert.match(df, /^Local Volumes\s+3\s+1\s+/m);
    const dfv = (await docker(['system', 'df', '-v'])).stdout;
    assert.match(dfv, /Local Volumes space usage:\n\nVOLUME NAME\s+LINKS\s+SIZE\n/);
    assert.match(dfv, /^named-used\s+1\s+0B$/m);
    assert.match(dfv, /^named-unused\s+0\s+4\.096kB$/m);
    const bdf = (await berth(['system', 'df', '-v'])).stdout;
    assert.match(bdf, /^named-unused\s+0\s+4\.096kB$/m);

    const pruned = await docker(['volume', 'prune', '-f']);
    assert.match(pruned.stdout, new RegExp(`^Deleted Volumes:\\n${anon}\\n\\nTotal reclaimed space: \\d+B\\n$`));
    let names = await volumeNames();
    assert.ok(names.includes('named-unused') && names.includes('named-used') && !names.includes(anon));
    const all = await berth(['volume', 'prune', '-f', '-a']);
    assert.equal(all.stdout, 'Deleted Volumes:\nnamed-unused\n\nTotal reclaimed space: 4.096kB\n');
    names = await volumeNames();
    assert.ok(names.includes('named-used') && !names.includes('named-unused'));

    await docker(['create', '--name', 'anonholder2', 'volimg:1', 'true']);
    const anon2 = JSON.parse((await docker(['inspect', '-f', '{{json .Mounts}}', 'anonholder2'])).stdout)[0].Name as string;
    await docker(['rm', 'anonholder2']);
    const sys = await docker(['system', 'prune', '-f', '--volumes']);
    assert.match(sys.stdout, new RegExp(`Deleted Volumes:\\n${anon2}\\n`));
    names = await volumeNames();
    assert.ok(!names.includes(anon2));
    // system prune took the stopped holder too, but never a named volume.
    assert.ok(names.includes('named-used'));
    await docker(['volume', 'rm', 'named-used']);
  });

  test('bad -v and --mount specs get docker\'s errors and leave nothing behind', async () => {
    const before = (await docker(['ps', '-aq'])).stdout;
    const volumesBefore = await volumeNames();
    const tooMany = await docker(['run', '--rm', '-v', '/a:/b:ro:extra', image(), 'true'], 125);
    assert.match(tooMany.stderr, /invalid spec: \/a:\/b:ro:extra: too many colons/);
    const berthTooMany = await berth(['run', '--rm', '-v', '/a:/b:ro:extra', image(), 'true'], 125);
    assert.match(berthTooMany.stderr, /invalid spec: \/a:\/b:ro:extra: too many colons/);
    const apiTooMany = await daemon.api('POST', '/containers/create', { Image: image(), Cmd: ['true'], HostConfig: { Binds: ['/a:/b:ro:extra'] } });
    assert.equal(apiTooMany.status, 400);
    assert.equal(apiTooMany.body.message, "invalid volume specification: '/a:/b:ro:extra'");
    const relative = await docker(['run', '--rm', '-v', 'rel/dir:/x', image(), 'true'], 125);
    assert.match(relative.stderr, /create rel\/dir: "rel\/dir" includes invalid characters for a local volume name/);
    const relTarget = await docker(['run', '--rm', '-v', 'vx:relative', image(), 'true'], 125);
    assert.match(relTarget.stderr, /invalid mount path: 'relative' mount path must be absolute/);
    const badMode = await docker(['run', '--rm', '-v', '/tmp:/x:rx', image(), 'true'], 125);
    assert.match(badMode.stderr, /invalid mode: rx/);
    const dup = await docker(['run', '--rm', '-v', 'va:/x', '--mount', 'type=volume,src=vb,dst=/x', image(), 'true'], 125);
    assert.match(dup.stderr, /Duplicate mount point: \/x/);
    const unknownKey = await daemon.docker(['run', '--rm', '--mount', 'type=bind,target=/x,colour=red', image(), 'true']);
    assert.equal(unknownKey.code, 125);
    assert.match(unknownKey.stderr, /unexpected key 'colour' in 'colour=red'/);
    const berthKey = await berth(['run', '--rm', '--mount', 'type=bind,target=/x,colour=red', image(), 'true'], 125);
    assert.match(berthKey.stderr, /invalid argument "type=bind,target=\/x,colour=red" for "--mount" flag: unexpected key 'colour' in 'colour=red'/);
    const apiBad = await daemon.api('POST', '/containers/create', { Image: image(), Cmd: ['true'], HostConfig: { Mounts: [{ Type: 'nfs', Target: '/x' }] } });
    assert.equal(apiBad.status, 400);
    assert.match(apiBad.body.message, /invalid mount config for type "nfs": mount type unknown/);
    assert.equal((await docker(['ps', '-aq'])).stdout, before);
    assert.deepEqual(await volumeNames(), volumesBefore);
  });

  test('a symlink at the mount target resolves inside the container, never on the host', async () => {
    const escape = `/tmp/berth-escape-${process.pid}`;
    await docker(['run', '--name', 'linker', image(), 'ln', '-s', `../../../../..${escape}`, '/link']);
    await docker(['commit', 'linker', 'linkimg:1']);
    await docker(['rm', 'linker']);
    const r = await docker(['run', '--rm', '-v', 'escvol:/link', 'linkimg:1', 'sh', '-c', `echo inside > /link/f && grep -c ' ${escape} ' /proc/mounts`]);
    assert.equal(r.stdout, '1\n');
    assert.ok(!existsSync(escape), 'the mount point was made inside the rootfs');
    assert.equal(readFileSync(join(daemon.dataRoot, 'volumes', 'escvol', '_data', 'f'), 'utf8'), 'inside\n');
    await docker(['volume', 'rm', 'escvol']);
  });
});
