// The volume store and the parsing of a container's mount requests, without a daemon: names,
// driver options, in-use refusal, prune selection, and docker's errors for bad -v / Mounts specs.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MetadataStore } from '../../src/store/metadata.js';
import { containerMountPoints, inspectMounts, tmpfsMountPoints, type MountSources } from '../../src/volumes/container-mounts.js';
import { ANONYMOUS_LABEL } from '../../src/volumes/model.js';
import { mountFlags } from '../../src/volumes/mount-options.js';
import { VolumeStore } from '../../src/volumes/store.js';
import { mountsFromFlags, parseMountFlag } from '../../src/cli/mount-flags.js';

describe('volumes', () => {
  let root: string;
  let meta: MetadataStore;
  let store: VolumeStore;
  const users = new Map<string, string[]>();
  const sources = (o: Partial<MountSources>): MountSources => ({ containerMounts: () => undefined, ...o });

  before(() => {
    root = fs.mkdtempSync(join(tmpdir(), 'berth-volumes-'));
    meta = new MetadataStore(join(root, 'metadata.db'));
    store = new VolumeStore(meta, root);
    store.setUsers(() => users);
  });
  after(() => {
    meta.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('creates a volume once, with docker\'s layout and record, and finds it after a reopen', async () => {
    const v = await store.create({ name: 'data1', labels: { a: 'b' } });
    assert.equal(v.driver, 'local');
    assert.deepEqual(v.labels, { a: 'b' });
    assert.ok(fs.statSync(join(root, 'volumes', 'data1', '_data')).isDirectory());
    const again = await store.create({ name: 'data1', labels: { other: 'x' } });
    assert.deepEqual(again, v, 'an existing name returns the existing volume');
    const reopened = new VolumeStore(new MetadataStore(join(root, 'metadata.db')), root);
    assert.deepEqual(reopened.get('data1'), v);
  });

  it('rejects bad names and options with docker\'s words', async () => {
    await assert.rejects(store.create({ name: 'x' }), /volume name is too short/);
    await assert.rejects(store.create({ name: '-bad' }), /create -bad: "-bad" includes invalid characters for a local volume name/);
    await assert.rejects(store.create({ name: 'ok1', options: { colour: 'red' } }), { message: 'create ok1: invalid option: "colour"', status: 400 } as object);
    await assert.rejects(store.create({ name: 'ok1', options: { o: 'bind' , device: '/x'} }), /missing required option: "type"/);
    await assert.rejects(store.create({ name: 'ok1', driver: 'nfs-plugin' }), /plugin "nfs-plugin" not found/);
    assert.equal(store.find('ok1'), undefined);
    assert.throws(() => store.get('nope'), { message: 'get nope: no such volume', status: 404 } as object);
  });

  it('refuses to remove a used volume (409) and prunes anonymous unused ones', async () => {
    const anon = await store.create({ anonymous: true });
    assert.match(anon.name, /^[0-9a-f]{64}$/);
    assert.deepEqual(anon.labels, { [ANONYMOUS_LABEL]: '' });
    await store.create({ name: 'used1' });
    users.set('used1', ['c1']);
    await assert.rejects(store.remove('used1'), { message: 'remove used1: volume is in use - [c1]', status: 409 } as object);
    const anonOnly = await store.prune((v) => Boolean(v.labels && ANONYMOUS_LABEL in v.labels));
    assert.deepEqual(anonOnly.deleted, [anon.name]);
    assert.ok(store.find('data1'));
    const all = await store.prune(() => true);
    assert.deepEqual(all.deleted, ['data1']);
    assert.ok(store.find('used1'));
    users.clear();
    await store.remove('used1');
    assert.ok(!fs.existsSync(join(root, 'volumes', 'used1')));
  });

  it('parses Binds: bind, named, anonymous, modes, and docker\'s errors', async () => {
    const host = join(root, 'made-by-bind');
    const { mounts } = await containerMountPoints(sources({ binds: [`${host}:/h:ro,rshared`, 'named1:/n', 'named2:/m:nocopy'], imageVolumes: { '/img': {}, '/n': {} } }), store);
    assert.ok(fs.existsSync(host), '-v creates the host directory');
    assert.deepEqual(inspectMounts(mounts)[0], { Type: 'bind', Source: host, Destination: '/h', Mode: 'ro,rshared', RW: false, Propagation: 'rshared' });
    const named = mounts.find((m) => m.Destination === '/n')!;
    assert.equal(named.Name, 'named1');
    assert.equal(named.Mode, 'z');
    assert.equal(named.copyImageData, true);
    assert.equal(mounts.find((m) => m.Destination === '/m')!.copyImageData, false);
    const img = mounts.find((m) => m.Destination === '/img')!;
    assert.equal(img.anonymous, true);
    assert.equal(mounts.length, 4, 'an image VOLUME under a bind destination adds nothing');
    for (const [bad, message] of [
      ['/a:/b:c:d', "invalid volume specification: '/a:/b:c:d'"],
      ['/foo:ro', "invalid volume specification: '/foo:ro'"],
      ['/a:/b:rx', 'invalid mode: rx'],
      ['/a:/b:ro,rw', 'invalid mode: ro,rw'],
      ['v1:rel', "invalid volume specification: 'v1:rel': invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute"],
      ['/a:/', "invalid volume specification: '/a:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"],
    ]) {
      await assert.rejects(containerMountPoints(sources({ binds: [bad] }), store), { message }, bad);
    }
  });

  it('parses Mounts and Tmpfs, and takes back volumes of a failed request', async () => {
    const before = store.list().map((v) => v.name);
    await assert.rejects(containerMountPoints(sources({ binds: ['fresh1:/x'], mounts: [{ Type: 'volume', Source: 'fresh2', Target: '/x' }] }), store), /Duplicate mount point: \/x/);
    assert.deepEqual(store.list().map((v) => v.name), before, 'volumes made for the failed request are gone');
    await assert.rejects(containerMountPoints(sources({ mounts: [{ Type: 'bind', Source: join(root, 'absent'), Target: '/x' }] }), store), /invalid mount config for type "bind": bind source path does not exist/);
    await assert.rejects(containerMountPoints(sources({ mounts: [{ Type: 'tmpfs', Source: 'x', Target: '/x' }] }), store), /field Source must not be specified/);
    await assert.rejects(containerMountPoints(sources({ mounts: [{ Type: 'bind', Source: root }] }), store), /field Target must not be empty/);
    const { mounts } = await containerMountPoints(sources({ mounts: [{ Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1 << 20, Mode: 0o1777 } }] }), store);
    assert.deepEqual(mounts[0].tmpfsOptions, ['size=1024k', 'mode=1777']);
    const t = tmpfsMountPoints({ '/run': 'size=64m,exec' });
    assert.deepEqual(t[0].tmpfsOptions, ['size=64m', 'exec']);
    assert.deepEqual(inspectMounts(t), [], '--tmpfs mounts are not listed under Mounts');
  });

  it('--volumes-from copies mounts, with ro/rw, never as this container\'s own', async () => {
    const theirs = (await containerMountPoints(sources({ imageVolumes: { '/data': {} } }), store)).mounts;
    const { mounts } = await containerMountPoints(sources({ volumesFrom: ['src:ro'], containerMounts: (n) => (n === 'src' ? theirs : undefined) }), store);
    assert.equal(mounts[0].Name, theirs[0].Name);
    assert.equal(mounts[0].RW, false);
    assert.equal(mounts[0].anonymous, false);
    await assert.rejects(containerMountPoints(sources({ volumesFrom: ['other'] }), store), { message: 'No such container: other', status: 404 } as object);
  });

  it('splits mount options into mount(2) flags and data', () => {
    assert.deepEqual(mountFlags('bind,ro'), { flags: 4096 | 1, data: '' });
    assert.deepEqual(mountFlags('size=10m,uid=1000,noexec'), { flags: 8, data: 'size=10m,uid=1000' });
  });

  it('turns run flags into the create body as the docker CLI does', () => {
    const { volumes, hostConfig } = mountsFromFlags({ volume: ['/only', './rel:/r', 'named:/n:ro'], tmpfs: ['/run:size=1m', '/t'], volumesFrom: ['c1'] });
    assert.deepEqual(volumes, { '/only': {} });
    assert.deepEqual(hostConfig.Binds, [`${process.cwd()}/rel:/r`, 'named:/n:ro']);
    assert.deepEqual(hostConfig.Tmpfs, { '/run': 'size=1m', '/t': '' });
    assert.deepEqual(hostConfig.VolumesFrom, ['c1']);
    assert.throws(() => mountsFromFlags({ volume: ['/a:/b:ro:x'] }), /invalid spec: \/a:\/b:ro:x: too many colons/);
    assert.deepEqual(parseMountFlag('type=bind,src=/a,dst=/b,readonly,bind-propagation=rslave'), { Type: 'bind', Source: '/a', Target: '/b', ReadOnly: true, BindOptions: { Propagation: 'rslave' } });
    assert.deepEqual(parseMountFlag('source=v,target=/d,volume-nocopy,volume-label=a=b'), { Type: 'volume', Source: 'v', Target: '/d', VolumeOptions: { NoCopy: true, Labels: { a: 'b' } } });
    assert.deepEqual(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1777'), { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 64 * 1024 * 1024, Mode: 0o1777 } });
    assert.throws(() => parseMountFlag('type=bind,target=/x,colour=red'), /unexpected key 'colour' in 'colour=red'/);
    assert.throws(() => parseMountFlag('type=volume,source=v'), /target is required/);
  });
});
