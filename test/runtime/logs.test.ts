import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { frame, readLogEntries, type LogEntry } from '../../src/runtime/logs.js';

async function collect(it: AsyncIterable<LogEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) out.push(`${e.stream}:${e.line.toString()}`);
  return out;
}

describe('container logs (conmon k8s-file)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-logs-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'ctr.log');
  writeFileSync(
    path,
    [
      '2026-01-01T00:00:01.000000001+00:00 stdout F one',
      '2026-01-01T00:00:02.000000000+00:00 stderr P par',
      '2026-01-01T00:00:02.500000000+00:00 stderr F tial',
      '2026-01-01T00:00:03.000000000+00:00 stdout F three',
      '',
    ].join('\n'),
  );

  test('reads entries, joining partial lines, with docker timestamps', async () => {
    assert.deepEqual(await collect(readLogEntries(path)), ['stdout:one\n', 'stderr:partial\n', 'stdout:three\n']);
    for await (const first of readLogEntries(path)) {
      assert.equal(first.timestamp, '2026-01-01T00:00:01.000000001Z');
      break;
    }
  });

  test('tail, since and until', async () => {
    assert.deepEqual(await collect(readLogEntries(path, { tail: 1 })), ['stdout:three\n']);
    assert.deepEqual(await collect(readLogEntries(path, { tail: 0 })), []);
    const since = Date.parse('2026-01-01T00:00:02Z');
    assert.deepEqual(await collect(readLogEntries(path, { since })), ['stderr:partial\n', 'stdout:three\n']);
    const until = Date.parse('2026-01-01T00:00:02.6Z');
    assert.deepEqual(await collect(readLogEntries(path, { until })), ['stdout:one\n', 'stderr:partial\n']);
  });

  test('follow sees appended lines and ends when the container exits', async () => {
    let exit!: () => void;
    const exited = new Promise<void>((r) => (exit = r));
    const seen = collect(readLogEntries(path, { follow: true, untilExited: exited, since: Date.parse('2026-01-01T00:00:03Z') }));
    await new Promise((r) => setTimeout(r, 100));
    appendFileSync(path, '2026-01-01T00:00:04.000000000+00:00 stdout F four\n');
    await new Promise((r) => setTimeout(r, 100));
    appendFileSync(path, '2026-01-01T00:00:05.000000000+00:00 stderr F five\n');
    exit();
    assert.deepEqual(await seen, ['stdout:three\n', 'stdout:four\n', 'stderr:five\n']);
  });

  test("frames carry docker's 8-byte header", () => {
    const f = frame(2, Buffer.from('hey'));
    assert.deepEqual([...f.subarray(0, 8)], [2, 0, 0, 0, 0, 0, 0, 3]);
    assert.equal(f.subarray(8).toString(), 'hey');
  });
});
