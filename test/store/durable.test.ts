// makeDurable: a few paths are fsynced one by one (a missing one is an error, not skipped); many
// paths get one filesystem flush instead.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FSYNC_EACH_LIMIT, makeDurable } from '../../src/store/durable.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-durable-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('few paths: each fsynced, no filesystem flush; a missing path fails', async () => {
  const files = ['a', 'b', 'c'].map((n) => join(dir, n));
  for (const f of files) writeFileSync(f, n(f));
  let flushes = 0;
  await makeDurable([...files, dir], async () => void flushes++);
  assert.equal(flushes, 0);
  await assert.rejects(makeDurable([join(dir, 'missing')], async () => void flushes++), { code: 'ENOENT' });
});

test('many paths: one flush of the filesystem instead', async () => {
  let flushes = 0;
  const many = Array.from({ length: FSYNC_EACH_LIMIT + 1 }, (_, i) => join(dir, `never-opened-${i}`));
  await makeDurable(many, async () => void flushes++);
  assert.equal(flushes, 1);
  await makeDurable([], async () => void flushes++);
  assert.equal(flushes, 1, 'nothing to make durable: no flush');
});

function n(path: string): string {
  return `${path}\n`;
}
