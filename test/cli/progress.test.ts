import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDemuxer, jsonLines } from '../../src/cli/api-client.js';
import { JsonMessageDisplay, JsonMessageError, progressString, type JsonMessage } from '../../src/cli/progress.js';

const EVENTS: JsonMessage[] = [
  { status: 'Pulling from library/busybox', id: 'latest' },
  { status: 'Pulling fs layer', progressDetail: {}, id: 'aaa' },
  { status: 'Pulling fs layer', progressDetail: {}, id: 'bbb' },
  { status: 'Downloading', progressDetail: { current: 1000, total: 2000 }, progress: '[==>  ]', id: 'aaa' },
  { status: 'Pull complete', progressDetail: {}, id: 'aaa' },
  { status: 'Digest: sha256:abc' },
];

test('non-TTY: each status once, progress updates dropped (docker jsonmessage)', () => {
  let out = '';
  const d = new JsonMessageDisplay((s) => (out += s), false);
  for (const e of EVENTS) d.handle(e);
  assert.equal(out, 'latest: Pulling from library/busybox\naaa: Pulling fs layer\nbbb: Pulling fs layer\naaa: Pull complete\nDigest: sha256:abc\n');
});

test('TTY: one line per layer, redrawn in place with cursor movement', () => {
  let out = '';
  const d = new JsonMessageDisplay((s) => (out += s), true, 80);
  for (const e of EVENTS) d.handle(e);
  const E = '\x1b[';
  assert.equal(
    out,
    'latest: Pulling from library/busybox\n' +
      `\n${E}1A${E}2K\raaa: Pulling fs layer \r${E}1B` +
      `\n${E}1A${E}2K\rbbb: Pulling fs layer \r${E}1B` +
      `${E}2A${E}2K\raaa: Downloading      1kB/2kB\r${E}2B` +
      `${E}2A${E}2K\raaa: Pull complete \r${E}2B` +
      'Digest: sha256:abc\n',
  );
});

test('progress bar shows on wide terminals', () => {
  assert.equal(progressString({ current: 1_200_000, total: 3_400_000 }, 120), `[${'='.repeat(17)}>${' '.repeat(33)}]    1.2MB/3.4MB`);
  assert.equal(progressString({ current: 0, total: 0 }, 120), '');
});

test('an error message fails the display', () => {
  const d = new JsonMessageDisplay(() => {}, false);
  assert.throws(() => d.handle({ errorDetail: { message: 'boom' }, error: 'boom' }), (e: Error) => e instanceof JsonMessageError && e.message === 'boom');
});

test('frame demuxer handles split headers and payloads', () => {
  const frames: Array<[number, string]> = [];
  const dm = new FrameDemuxer((s, p) => frames.push([s, p.toString()]));
  const f = (s: number, t: string) => {
    const h = Buffer.alloc(8);
    h[0] = s;
    h.writeUInt32BE(Buffer.byteLength(t), 4);
    return Buffer.concat([h, Buffer.from(t)]);
  };
  const all = Buffer.concat([f(1, 'hello\n'), f(2, 'err'), f(1, '')]);
  for (let i = 0; i < all.length; i += 3) dm.push(all.subarray(i, i + 3));
  assert.deepEqual(frames, [[1, 'hello\n'], [2, 'err'], [1, '']]);
  assert.equal(dm.leftover, 0);
});

test('JSON lines split across chunks', async () => {
  async function* chunks() {
    yield Buffer.from('{"a":1}\r\n{"b"');
    yield Buffer.from(':2}\n');
  }
  const got: unknown[] = [];
  for await (const v of jsonLines(chunks())) got.push(v);
  assert.deepEqual(got, [{ a: 1 }, { b: 2 }]);
});
