// berth-layers.node: the native decompressors (on the thread pool, native/decode.c) every gzip and
// zstd layer goes through — same bytes as zlib / zstd, the SHA-256 of what they put out, zlib's rules
// for gzip streams that are not one clean member — and the file digest a load checks layers with.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import { NativeDecompressor, type NativeCompression } from '../../src/images/native-decompress.js';
import { sha256File } from '../../src/util/native-layers.js';

async function decompress(kind: NativeCompression, data: Buffer, chunk = 65536, hash = true): Promise<{ out: Buffer; digest?: string }> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) pieces.push(data.subarray(i, i + chunk));
  const g = new NativeDecompressor(kind, hash);
  const out: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    g.on('data', (b: Buffer) => out.push(b));
    g.on('end', resolve);
    g.on('error', reject);
    Readable.from(pieces).pipe(g);
  });
  return { out: Buffer.concat(out), digest: hash ? g.digest() : undefined };
}

const inflate = (data: Buffer, chunk?: number, hash?: boolean) => decompress('gzip', data, chunk, hash);
const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

describe('NativeDecompressor: gzip', () => {
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
    const g = new NativeDecompressor('gzip', true);
    assert.throws(() => g.digest(), /before the stream ended/);
    g.destroy();
    const { digest } = await inflate(gz, 65536, false);
    assert.equal(digest, undefined);
    const plainOnly = new NativeDecompressor('gzip', false);
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

describe('NativeDecompressor: zstd', () => {
  const plain = Buffer.concat([randomBytes(2 << 20), Buffer.alloc(6 << 20, 'zstd tar bytes ')]);
  const zst = zstdCompress(plain);

  for (const chunk of [1000, 65536, 1 << 22]) {
    it(`decompresses what zstd compressed, and hashes it (input in ${chunk}-byte pieces)`, async () => {
      const { out, digest } = await decompress('zstd', zst, chunk);
      assert.ok(out.equals(plain));
      assert.equal(digest, sha(plain));
    });
  }

  it('reads several frames as one stream', async () => {
    const a = Buffer.from('frame one, ');
    const b = Buffer.alloc(3 << 20, 'frame two');
    const { out } = await decompress('zstd', Buffer.concat([zstdCompress(a), zstdCompress(b)]), 4096);
    assert.ok(out.equals(Buffer.concat([a, b])));
  });

  it('refuses a truncated stream and corrupt data', async () => {
    await assert.rejects(decompress('zstd', zst.subarray(0, zst.length - 1000)), /zstd: unexpected end of file/);
    // Frames with a checksum (zstd's CLI writes one) catch changed content; without one, the
    // blob's digest does (the pull checks it).
    const bad = Buffer.from(zstdCompress(plain, { checksumFlag: true }));
    bad.fill(0x41, 100, 2000);
    await assert.rejects(decompress('zstd', bad), /zstd: Restored data doesn't match checksum/);
    const reserved = Buffer.from(zst);
    reserved[4]! |= 0x08;
    await assert.rejects(decompress('zstd', reserved), /zstd: Unsupported frame parameter/);
    await assert.rejects(decompress('zstd', Buffer.from('(\xb5/\xfd is not this', 'latin1')), /zstd: Data corruption detected/);
  });

  it('refuses an unknown kind', () => {
    assert.throws(() => new NativeDecompressor('lz4' as NativeCompression, false), TypeError);
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
