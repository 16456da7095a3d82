// berth-layers.node: the native gzip inflater (ISA-L igzip on the thread pool, native/gunzip.c) that
// every gzip layer goes through — same bytes as zlib, the SHA-256 of what it put out, and zlib's
// rules for streams that are not one clean member — and the file digest a load checks layers with.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { NativeGunzip } from '../../src/images/gunzip.js';
import { sha256File } from '../../src/util/native-layers.js';

async function inflate(data: Buffer, chunk = 65536, hash = true): Promise<{ out: Buffer; digest?: string }> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) pieces.push(data.subarray(i, i + chunk));
  const g = new NativeGunzip(hash);
  const out: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    g.on('data', (b: Buffer) => out.push(b));
    g.on('end', resolve);
    g.on('error', reject);
    Readable.from(pieces).pipe(g);
  });
  return { out: Buffer.concat(out), digest: hash ? g.digest() : undefined };
}

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

describe('NativeGunzip', () => {
  // Incompressible and compressible parts, several MiB: many output blocks, several input batches.
  const plain = Buffer.concat([randomBytes(3 << 20), Buffer.alloc(5 << 20, 'tar bytes '), randomBytes(1000)]);
  const gz = zlib.gzipSync(plain);

  for (const chunk of [4096, 65536, 1 << 22]) {
    it(`inflates what zlib inflates, and hashes it (input in ${chunk}-byte pieces)`, async () => {
      const { out, digest } = await inflate(gz, chunk);
      assert.equal(out.length, plain.length);
      assert.ok(out.equals(plain));
      assert.equal(digest, sha(plain));
    });
  }

  it('takes one byte at a time', async () => {
    const small = Buffer.from('a small layer '.repeat(500));
    const { out, digest } = await inflate(zlib.gzipSync(small), 1);
    assert.ok(out.equals(small));
    assert.equal(digest, sha(small));
  });

  it('reads concatenated members as one stream (as gzip -d and node zlib do)', async () => {
    const a = Buffer.from('first member, ');
    const b = Buffer.alloc(2 << 20, 'second member');
    for (const chunk of [3, 65536]) {
      const { out, digest } = await inflate(Buffer.concat([zlib.gzipSync(a), zlib.gzipSync(b)]), chunk);
      assert.ok(out.equals(Buffer.concat([a, b])));
      assert.equal(digest, sha(Buffer.concat([a, b])));
    }
  });

  it('ignores zero padding after the last member', async () => {
    const { out } = await inflate(Buffer.concat([gz, Buffer.alloc(10240)]));
    assert.ok(out.equals(plain));
  });

  it('an empty member inflates to nothing, with the empty digest', async () => {
    const { out, digest } = await inflate(zlib.gzipSync(Buffer.alloc(0)));
    assert.equal(out.length, 0);
    assert.equal(digest, sha(Buffer.alloc(0)));
  });

  it('refuses a truncated stream', async () => {
    await assert.rejects(inflate(gz.subarray(0, gz.length - 100)), /gzip: unexpected end of file/);
    await assert.rejects(inflate(gz.subarray(0, 5)), /gzip: unexpected end of file/);
  });

  it('refuses a stream whose CRC does not match', async () => {
    const bad = Buffer.from(gz);
    bad[bad.length - 6] ^= 0xff;
    await assert.rejects(inflate(bad), /gzip: incorrect data check/);
  });

  it('refuses corrupt deflate data and a wrong compression method', async () => {
    const bad = zlib.gzipSync(randomBytes(200_000).toString('hex'));
    bad.fill(0x41, 20, 400);
    await assert.rejects(inflate(bad), /gzip: (invalid|incorrect)/);
    const method = Buffer.from(gz);
    method[2] = 9;
    await assert.rejects(inflate(method), /gzip: unknown compression method/);
  });

  it('refuses garbage after a member (it is not another member)', async () => {
    await assert.rejects(inflate(Buffer.concat([zlib.gzipSync(Buffer.from('x')), Buffer.from('this is not gzip at all')])), /gzip: incorrect header check/);
  });

  it('digest() only for a hashing stream, and only once it ended', async () => {
    const g = new NativeGunzip(true);
    assert.throws(() => g.digest(), /before the stream ended/);
    g.destroy();
    const { digest } = await inflate(gz, 65536, false);
    assert.equal(digest, undefined);
    const plainOnly = new NativeGunzip(false);
    assert.throws(() => plainOnly.digest(), /without hashing/);
    plainOnly.destroy();
  });

  it('many streams at once (layers in parallel) each get their own bytes', async () => {
    const inputs = Array.from({ length: 8 }, (_, i) => Buffer.alloc((i + 1) * 300_000, `layer ${i} `));
    const results = await Promise.all(inputs.map((p) => inflate(zlib.gzipSync(p), 8192)));
    results.forEach((r, i) => {
      assert.ok(r.out.equals(inputs[i]));
      assert.equal(r.digest, sha(inputs[i]));
    });
  });
});

describe('sha256File', () => {
  it('hashes files of every size the way node does; a missing file is an error naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-sha-'));
    try {
      for (const size of [0, 1, (1 << 20) - 1, 1 << 20, (3 << 20) + 17]) {
        const data = randomBytes(size);
        const file = join(dir, `f${size}`);
        writeFileSync(file, data);
        assert.equal(await sha256File(file), sha(data), `${size} bytes`);
      }
      await assert.rejects(sha256File(join(dir, 'missing')), (err: Error & { errno?: number }) => err.errno === 2 && err.message.includes('missing'));
      await assert.rejects(sha256File(dir), (err: Error & { errno?: number }) => err.errno === 21, 'a directory');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
