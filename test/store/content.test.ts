import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ContentStore } from '../../src/store/content.js';
import { sha256Digest } from '../../src/util/digest.js';
import { DigestMismatchError, NotFoundError } from '../../src/util/errors.js';

function write(w: NodeJS.WritableStream, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    w.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

describe('ContentStore', () => {
  let root: string;
  let store: ContentStore;
  before(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'berth-content-'));
    store = new ContentStore(root);
    await store.init();
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  const ingestFiles = () => fs.readdirSync(join(root, 'content', 'ingest'));

  it('stores a verified buffer and reads it back', async () => {
    const data = Buffer.from('hello blob');
    const digest = sha256Digest(data);
    assert.equal(store.has(digest), false);
    await store.writeBuffer(digest, data);
    assert.equal(store.has(digest), true);
    assert.equal(store.path(digest), join(root, 'content', 'blobs', 'sha256', digest.slice(7)));
    assert.deepEqual(store.readBuffer(digest), data);
    assert.deepEqual(await store.read(digest), data);
    assert.ok((await store.list()).includes(digest));
    // Writing it again is a no-op.
    await store.writeBuffer(digest, data);
    await store.delete(digest);
    assert.equal(store.has(digest), false);
    assert.throws(() => store.readBuffer(digest), NotFoundError);
    await store.delete(digest); // deleting twice is fine
  });

  it('refuses a buffer that does not match its digest and keeps nothing', async () => {
    const digest = sha256Digest('the real content');
    await assert.rejects(store.writeBuffer(digest, Buffer.from('something else')), DigestMismatchError);
    assert.equal(store.has(digest), false);
    assert.deepEqual(ingestFiles(), []);
  });

  it('detects a blob corrupted on disk when reading', async () => {
    const data = Buffer.from('will rot');
    const digest = sha256Digest(data);
    await store.writeBuffer(digest, data);
    fs.writeFileSync(store.path(digest), 'rotten');
    assert.throws(() => store.readBuffer(digest), DigestMismatchError);
    await store.delete(digest);
  });

  it('ingests a stream: hashing while writing, publishing only on commit', async () => {
    const chunks = Array.from({ length: 20 }, (_, i) => Buffer.alloc(100_000, i));
    const data = Buffer.concat(chunks);
    const digest = sha256Digest(data);
    const w = await store.createWriter({ digest, size: data.length });
    assert.equal(w.alreadyExists, false);
    for (const c of chunks) await write(w, c);
    assert.equal(store.has(digest), false, 'not visible before commit');
    assert.equal(ingestFiles().length, 1);
    await w.commit();
    assert.equal(store.has(digest), true);
    assert.deepEqual(fs.readFileSync(store.path(digest)), data);
    assert.deepEqual(ingestFiles(), []);
    await store.delete(digest);
  });

  it('rejects a streamed digest mismatch and removes the temp file', async () => {
    const digest = sha256Digest('expected');
    const w = await store.createWriter({ digest });
    await write(w, Buffer.from('tampered'));
    await assert.rejects(w.commit(), DigestMismatchError);
    assert.equal(store.has(digest), false);
    assert.deepEqual(ingestFiles(), []);
    // The lock is released: a new ingest can start.
    const w2 = await store.createWriter({ digest });
    await w2.abort();
  });

  it('rejects a short stream and fails a long one as soon as it overflows', async () => {
    const data = Buffer.from('0123456789');
    const digest = sha256Digest(data);
    const short = await store.createWriter({ digest, size: 11 });
    await write(short, data);
    await assert.rejects(short.commit(), DigestMismatchError);

    const long = await store.createWriter({ digest, size: 5 });
    long.on('error', () => {}); // the write callback reports it
    await assert.rejects(write(long, data), DigestMismatchError);
    await long.abort();
    assert.equal(store.has(digest), false);
    assert.deepEqual(ingestFiles(), []);
  });

  it('abort drops the ingest', async () => {
    const digest = sha256Digest('aborted');
    const w = await store.createWriter({ digest });
    await write(w, Buffer.from('abor'));
    await w.abort();
    await w.abort();
    assert.equal(store.has(digest), false);
    assert.deepEqual(ingestFiles(), []);
  });

  it('dedups concurrent ingests of one digest: the second waits, then only verifies', async () => {
    const data = Buffer.from('shared blob');
    const digest = sha256Digest(data);
    const first = await store.createWriter({ digest, size: data.length });
    let secondStarted = false;
    const secondP = store.createWriter({ digest, size: data.length }).then((w) => {
      secondStarted = true;
      return w;
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(secondStarted, false, 'second ingest waits for the first');
    await write(first, data);
    await first.commit();
    const second = await secondP;
    assert.equal(second.alreadyExists, true);
    // Its bytes are still verified.
    second.end(Buffer.from('not the same'));
    await assert.rejects(second.commit(), DigestMismatchError);
    assert.equal(store.has(digest), true, 'a failed verify does not remove the stored blob');
    assert.deepEqual(store.readBuffer(digest), data);
    await store.delete(digest);
  });

  it('hands over to the waiting ingest when the first one aborts', async () => {
    const data = Buffer.from('second time lucky');
    const digest = sha256Digest(data);
    const first = await store.createWriter({ digest });
    const secondP = store.createWriter({ digest });
    await first.abort();
    const second = await secondP;
    assert.equal(second.alreadyExists, false);
    second.end(data);
    await second.commit();
    assert.deepEqual(store.readBuffer(digest), data);
    await store.delete(digest);
  });

  it('removes stale ingest files at open', async () => {
    fs.writeFileSync(join(root, 'content', 'ingest', 'deadbeef.1.crash'), 'partial');
    const reopened = new ContentStore(root);
    await reopened.init();
    assert.deepEqual(ingestFiles(), []);
  });
});
