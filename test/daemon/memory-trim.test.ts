// After a burst of work berthd hands freed heap back to the kernel (malloc_trim via berth-sys.node).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { MemoryTrimmer } from '../../src/daemon/memory-trim.js';
import { REPO_ROOT } from '../e2e/harness.js';

// A child node process inflates 200 gzip streams at once (zlib state and windows come from malloc,
// on pool threads, as in a pull), lets them go, and reports its RSS before and after the trim.
const BURST = `
import zlib from 'node:zlib';
import { sysAddon } from './dist/src/runtime/sys.js';
const rss = () => process.memoryUsage().rss / 1048576;
const data = zlib.gzipSync(Buffer.alloc(4 << 20, 7));
await Promise.all(Array.from({ length: 200 }, () => new Promise((res) => {
  const g = zlib.createGunzip(); g.on('data', () => {}); g.on('end', res); g.end(data);
})));
globalThis.gc();
await new Promise((r) => setTimeout(r, 100));
const held = rss();
const released = await sysAddon().trimMemoryAsync();
console.log(JSON.stringify({ held, after: rss(), released }));
`;

describe('memory trim', () => {
  test('trimMemoryAsync gives a finished burst of zlib memory back to the kernel', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', BURST], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const { held, after, released } = JSON.parse(r.stdout) as { held: number; after: number; released: boolean };
    assert.equal(released, true);
    assert.ok(held - after > 15, `RSS ${held.toFixed(1)} MiB before the trim, ${after.toFixed(1)} MiB after: expected a drop of more than 15 MiB`);
  });

  test('one trim per burst of activity, and one more for activity during a trim', async () => {
    let calls = 0;
    let finish: (() => void) | undefined;
    const trimmer = new MemoryTrimmer(() => {
      calls++;
      return new Promise<boolean>((resolve) => (finish = () => resolve(true)));
    });
    try {
      for (let i = 0; i < 100; i++) trimmer.noteActivity();
      assert.equal(calls, 0, 'no trim while the burst is on');
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(calls, 1);
      trimmer.noteActivity(); // during the trim
      finish!();
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(calls, 2, 'activity during a trim is trimmed after it');
      finish!();
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(calls, 2, 'no activity, no trim');
    } finally {
      trimmer.stop();
    }
  });
});
