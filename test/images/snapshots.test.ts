import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SnapshotStore } from '../../src/images/snapshots.js';
import { sha256Digest } from '../../src/util/digest.js';
import { cleanup, tempDir } from './tar-helpers.js';

describe('SnapshotStore', () => {
  let root: string;
  let store: SnapshotStore;
  before(async () => {
    root = tempDir('snapshots');
    store = new SnapshotStore(root, { durable: false });
    await store.init();
  });
  after(() => cleanup(root));

  const entries = () => fs.readdirSync(join(root, 'snapshots'));

  it('fills in a temp dir and publishes under the chain ID', async () => {
    const chain = sha256Digest('chain-1');
    let seen = '';
    const res = await store.prepare(chain, async (dir) => {
      seen = dir;
      assert.match(dir, /\/snapshots\/tmp-[0-9a-f]+\/diff$/);
      assert.equal(store.has(chain), false, 'not visible while filling');
      fs.writeFileSync(join(dir, 'file'), 'data');
      return { size: 4 };
    });
    assert.deepEqual(res, { chainId: chain, size: 4, created: true });
    assert.equal(store.has(chain), true);
    assert.equal(store.diffPath(chain), join(root, 'snapshots', chain.slice(7), 'diff'));
    assert.equal(fs.readFileSync(join(store.diffPath(chain), 'file'), 'utf8'), 'data');
    assert.equal(fs.existsSync(seen), false);
    assert.deepEqual(await store.info(chain), { chainId: chain, size: 4 });
    assert.deepEqual(await store.list(), [chain]);
    // Already there: fill is not called again.
    const again = await store.prepare(chain, async () => assert.fail('fill must not run'));
    assert.equal(again.created, false);
    await store.remove(chain);
    assert.equal(store.has(chain), false);
    assert.deepEqual(entries(), []);
    await store.remove(chain);
  });

  it('a failing fill publishes nothing and leaves no temp dir', async () => {
    const chain = sha256Digest('chain-fail');
    await assert.rejects(
      store.prepare(chain, async (dir) => {
        fs.writeFileSync(join(dir, 'half'), 'x');
        throw new Error('unpack failed');
      }),
      /unpack failed/,
    );
    assert.equal(store.has(chain), false);
    assert.deepEqual(entries(), []);
  });

  it('runs concurrent prepares of one chain once', async () => {
    const chain = sha256Digest('chain-concurrent');
    let calls = 0;
    const fill = async (dir: string) => {
      calls++;
      await new Promise((r) => setTimeout(r, 30));
      fs.writeFileSync(join(dir, 'f'), 'x');
      return { size: 1 };
    };
    const results = await Promise.all([store.prepare(chain, fill), store.prepare(chain, fill), store.prepare(chain, fill)]);
    assert.equal(calls, 1);
    assert.deepEqual(results.map((r) => r.created).sort(), [false, false, true]);
    await store.remove(chain);
  });

  it('removes snapshots holding whiteouts and opaque dirs', async () => {
    const chain = sha256Digest('chain-wh');
    const { applyLayer } = await import('../../src/images/unpack.js');
    const { buildTar, streamOf } = await import('./tar-helpers.js');
    const tar = await buildTar([{ name: 'd/.wh..wh..opq' }, { name: 'd/.wh.x' }, { name: 'ro/', type: 'directory', mode: 0o500 }, { name: 'ro/f', content: 'x', mode: 0o400 }]);
    await store.prepare(chain, (dir) => applyLayer(streamOf(tar), dir));
    await store.remove(chain);
    assert.deepEqual(entries(), []);
  });

  it('removes stale temp dirs at open', async () => {
    fs.mkdirSync(join(root, 'snapshots', 'tmp-crashed', 'diff'), { recursive: true });
    fs.writeFileSync(join(root, 'snapshots', 'tmp-crashed', 'diff', 'half'), 'x');
    const reopened = new SnapshotStore(root);
    await reopened.init();
    assert.deepEqual(entries(), []);
  });

  it('publishes durably (syncfs) by default', async () => {
    const durable = new SnapshotStore(root);
    const chain = sha256Digest('chain-durable');
    const res = await durable.prepare(chain, async (dir) => fs.writeFileSync(join(dir, 'f'), 'x'));
    assert.equal(res.created, true);
    assert.equal(res.size, undefined);
    await durable.remove(chain);
  });
});
