// A build step's upper dir as an OCI layer: run on a real overlay mount, deletions must come out as
// whiteouts, a replaced directory as opaque, hard links as links, and the snapshot must be the
// upper dir itself.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import tarStream from 'tar-stream';
import { commitUpper } from '../../src/build/layer.js';
import { SnapshotStore } from '../../src/images/snapshots.js';
import { ContentStore } from '../../src/store/content.js';
import { sha256Digest } from '../../src/util/digest.js';
import { cleanup, tempDir } from '../images/tar-helpers.js';

async function entries(tar: Buffer): Promise<Array<{ name: string; type: string; linkname?: string | null; body: string }>> {
  const out: Array<{ name: string; type: string; linkname?: string | null; body: string }> = [];
  const extract = tarStream.extract();
  const done = (async () => {
    for await (const e of extract) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      out.push({ name: e.header.name, type: e.header.type ?? 'file', linkname: e.header.linkname, body: Buffer.concat(chunks).toString() });
    }
  })();
  extract.end(tar);
  await done;
  return out;
}

describe('build layer from an overlay upper dir', () => {
  let root: string;
  let merged: string;
  before(() => {
    root = tempDir('build-layer');
  });
  after(() => {
    try {
      execFileSync('umount', [merged]);
    } catch {
      // not mounted
    }
    cleanup(root);
  });

  it('whiteouts, opaque dirs, hard links; diff ID and snapshot', async () => {
    const lower = join(root, 'lower');
    const upper = join(root, 'upper');
    merged = join(root, 'merged');
    for (const d of [join(lower, 'etc/conf.d'), join(lower, 'bin'), upper, join(root, 'work'), merged]) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(join(lower, 'bin/gone'), 'x');
    fs.writeFileSync(join(lower, 'etc/conf.d/old'), 'x');
    fs.writeFileSync(join(lower, 'etc/keep'), 'x');
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${join(root, 'work')}`, merged]);
    fs.rmSync(join(merged, 'bin/gone'));
    fs.rmSync(join(merged, 'etc/conf.d'), { recursive: true });
    fs.mkdirSync(join(merged, 'etc/conf.d'));
    fs.writeFileSync(join(merged, 'etc/conf.d/new'), 'new');
    fs.writeFileSync(join(merged, 'a'), 'hello');
    fs.linkSync(join(merged, 'a'), join(merged, 'b'));
    execFileSync('umount', [merged]);

    const content = new ContentStore(root);
    await content.init();
    const snapshots = new SnapshotStore(root, { durable: false });
    const layer = await commitUpper({ content, snapshots }, upper, undefined, root);
    const blob = await content.read(layer.descriptor.digest);
    const tar = gunzipSync(blob);
    assert.equal(layer.diffId, sha256Digest(tar));
    assert.equal(layer.chainId, layer.diffId);
    const list = await entries(tar);
    const byName = new Map(list.map((e) => [e.name, e]));
    assert.equal(byName.get('bin/.wh.gone')?.type, 'file');
    assert.ok(byName.has('etc/conf.d/.wh..wh..opq'), JSON.stringify(list.map((e) => e.name)));
    assert.equal(byName.get('etc/conf.d/new')?.body, 'new');
    assert.equal(byName.get('a')?.body, 'hello');
    assert.deepEqual([byName.get('b')?.type, byName.get('b')?.linkname], ['link', 'a']);
    assert.ok(!byName.has('etc/keep'), 'unchanged lower files are not in the layer');
    assert.equal(layer.size, 'new'.length + 'hello'.length);
    // The snapshot is the upper dir, whiteout device included; the upper dir itself is gone.
    const diff = snapshots.diffPath(layer.chainId);
    assert.equal(fs.readFileSync(join(diff, 'etc/conf.d/new'), 'utf8'), 'new');
    assert.ok(fs.lstatSync(join(diff, 'bin/gone')).isCharacterDevice());
    assert.equal(fs.existsSync(upper), false);
  });
});
