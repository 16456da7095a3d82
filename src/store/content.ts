// Content-addressed blob store: <root>/content/blobs/sha256/<hex>.
// A blob only ever appears under its name after its bytes were hashed, matched the digest, and were
// fsynced: ingest writes to <root>/content/ingest/ and renames. Readers therefore never see a partial
// or unverified blob, and a crash mid-ingest leaves only a temp file, removed at the next open.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { DigestMismatchError, NotFoundError, SystemError } from '../util/errors.js';
import { assertDigest, digestHex } from '../util/digest.js';
import { logger } from '../util/log.js';
import { sha256File } from '../util/native-layers.js';
import { WritebackPacer } from './durable.js';

const log = logger('content');

export interface ExpectedBlob {
  digest: string;
  /** When known (from a descriptor), a longer or shorter stream fails before the digest is even checked. */
  size?: number;
}

/**
 * `durable: false` skips the fsyncs of a blob's file and of the blobs dir: for a caller that makes a
 * batch durable with one syncfs of the filesystem (SnapshotStore.sync) before anything refers to it.
 */
export interface WriteOptions {
  durable?: boolean;
}

export interface BlobInfo {
  digest: string;
  size: number;
}

/**
 * A streaming ingest. Write the blob's bytes, then `commit()` (verifies, fsyncs, publishes) or
 * `abort()`. When the blob is already stored (`alreadyExists`), written bytes are only hashed so the
 * caller's data is still verified, and commit keeps the stored copy.
 */
export interface ContentWriter extends Writable {
  readonly expected: ExpectedBlob;
  readonly alreadyExists: boolean;
  /** Bytes accepted so far. */
  readonly written: number;
  /**
   * Ends the stream if needed and checks size and digest without publishing: lets a caller verify
   * every digest it cares about before anything becomes visible. DigestMismatchError (and the temp
   * file removed) on mismatch.
   */
  verify(): Promise<void>;
  /** verify(), then fsync and publish the blob under its digest. */
  commit(): Promise<void>;
  /** Drops the temp file; safe to call more than once and after a failed commit. */
  abort(): Promise<void>;
}

function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

export class ContentStore {
  readonly blobsDir: string;
  readonly ingestDir: string;
  /** Ingests in progress, by digest: a second ingest of the same blob waits for the first. */
  private readonly active = new Map<string, Promise<void>>();

  constructor(root: string) {
    this.blobsDir = join(root, 'content', 'blobs', 'sha256');
    this.ingestDir = join(root, 'content', 'ingest');
    // Synchronous on purpose: the store is usable (has/readBuffer) as soon as it is constructed.
    fs.mkdirSync(this.blobsDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.ingestDir, { recursive: true, mode: 0o700 });
  }

  /** Removes temp files left by a crash. Call once at open, before any ingest starts. */
  async init(): Promise<void> {
    const names = await fsp.readdir(this.ingestDir);
    for (const name of names) {
      await fsp.rm(join(this.ingestDir, name), { force: true, recursive: true });
    }
    if (names.length) log.info({ count: names.length }, 'removed stale ingest files');
  }

  path(digest: string): string {
    return join(this.blobsDir, digestHex(digest));
  }

  has(digest: string): boolean {
    return fs.existsSync(this.path(digest));
  }

  /** Size of a stored blob, or undefined when absent. */
  async stat(digest: string): Promise<BlobInfo | undefined> {
    try {
      const st = await fsp.stat(this.path(digest));
      return { digest, size: st.size };
    } catch (err) {
      if (isEnoent(err)) return undefined;
      throw err;
    }
  }

  /**
   * Whole blob, re-verified: meant for manifests and configs (small), where a hash costs nothing and
   * a corrupted disk should surface as an error rather than as a wrong image.
   */
  readBuffer(digest: string): Buffer {
    let data: Buffer;
    try {
      data = fs.readFileSync(this.path(digest));
    } catch (err) {
      if (isEnoent(err)) throw new NotFoundError(`content ${digest} not found`);
      throw err;
    }
    const actual = 'sha256:' + createHash('sha256').update(data).digest('hex');
    if (actual !== digest) throw new DigestMismatchError(digest, actual, 'content store');
    return data;
  }

  async read(digest: string): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await fsp.readFile(this.path(digest));
    } catch (err) {
      if (isEnoent(err)) throw new NotFoundError(`content ${digest} not found`);
      throw err;
    }
    const actual = 'sha256:' + createHash('sha256').update(data).digest('hex');
    if (actual !== digest) throw new DigestMismatchError(digest, actual, 'content store');
    return data;
  }

  /** Raw stream of a stored blob (not re-verified: layer readers hash what they consume anyway). */
  createReadStream(digest: string): fs.ReadStream {
    const p = this.path(digest);
    if (!fs.existsSync(p)) throw new NotFoundError(`content ${digest} not found`);
    return fs.createReadStream(p, { highWaterMark: 1 << 20 });
  }

  /** Stores a buffer under its digest after checking it; a no-op when the blob is already there. */
  async writeBuffer(digest: string, data: Buffer, opts: WriteOptions = {}): Promise<void> {
    const w = await this.createWriter({ digest, size: data.length }, opts);
    try {
      if (!w.alreadyExists) {
        await new Promise<void>((resolve, reject) => w.end(data, (err?: Error | null) => (err ? reject(err) : resolve())));
      } else {
        w.end(data);
      }
      await w.commit();
    } catch (err) {
      await w.abort();
      throw err;
    }
  }

  /**
   * Starts an ingest. If another ingest of the same digest is running, waits for it first: when it
   * committed, the returned writer only verifies (`alreadyExists`), so one blob is written once.
   */
  async createWriter(expected: ExpectedBlob, opts: WriteOptions = {}): Promise<ContentWriter> {
    assertDigest(expected.digest);
    for (;;) {
      const running = this.active.get(expected.digest);
      if (!running) break;
      await running;
    }
    if (this.has(expected.digest)) return new IngestWriter(this, expected, undefined, () => {});
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    this.active.set(expected.digest, done);
    const finish = () => {
      if (this.active.get(expected.digest) === done) this.active.delete(expected.digest);
      release();
    };
    const tmp = join(this.ingestDir, `${digestHex(expected.digest)}.${process.pid}.${randomBytes(6).toString('hex')}`);
    let fd: number;
    try {
      fd = await new Promise<number>((resolve, reject) =>
        fs.open(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600, (err, f) => (err ? reject(err) : resolve(f))),
      );
    } catch (err) {
      finish();
      throw new SystemError(`content store: cannot create ingest file: ${(err as Error).message}`, { cause: err });
    }
    return new IngestWriter(this, expected, { fd, tmp }, finish, opts.durable ?? true);
  }

  /**
   * Takes over a file that already holds a blob (a layer tar a load unpacked to a temp file on the
   * same filesystem): hashes it (on the thread pool), fsyncs it and renames it into place, saving a second full write.
   * DigestMismatchError when the bytes are not `digest`. Returns false when the blob was there.
   */
  async adopt(digest: string, file: string, opts: WriteOptions = {}): Promise<boolean> {
    const durable = opts.durable ?? true;
    assertDigest(digest);
    if (this.has(digest)) return false;
    const actual = await sha256File(file);
    if (actual !== digest) throw new DigestMismatchError(digest, actual, 'blob');
    if (durable) {
      const fh = await fsp.open(file, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    await fsp.chmod(file, 0o600);
    try {
      await fsp.rename(file, this.path(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      // Another filesystem: copy into the ingest dir (ours), then rename from there.
      const tmp = join(this.ingestDir, `${digestHex(digest)}.${process.pid}.${randomBytes(6).toString('hex')}`);
      await fsp.copyFile(file, tmp);
      const copy = await fsp.open(tmp, 'r');
      if (durable) await copy.sync().finally(() => copy.close());
      else await copy.close();
      await fsp.rename(tmp, this.path(digest));
    }
    if (durable) await fsyncDir(this.blobsDir);
    return true;
  }

  async delete(digest: string): Promise<void> {
    await fsp.rm(this.path(digest), { force: true });
  }

  /** Digests of all stored blobs. */
  async list(): Promise<string[]> {
    const names = await fsp.readdir(this.blobsDir);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }
}

class IngestWriter extends Writable implements ContentWriter {
  private readonly hash: Hash = createHash('sha256');
  private count = 0;
  private readonly writeback: WritebackPacer | undefined;
  private settled = false;
  private committing: Promise<void> | undefined;
  private verifying: Promise<void> | undefined;
  readonly alreadyExists: boolean;

  constructor(
    private readonly store: ContentStore,
    readonly expected: ExpectedBlob,
    private file: { fd: number; tmp: string } | undefined,
    private readonly release: () => void,
    private readonly durable = true,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.alreadyExists = file === undefined;
    if (file && durable) this.writeback = new WritebackPacer(file.fd);
  }


  get written(): number {
    return this.count;
  }

  private accept(chunks: Buffer[]): Error | undefined {
    for (const c of chunks) {
      this.hash.update(c);
      this.count += c.length;
    }
    // Fail as soon as a stream outgrows its descriptor: a hostile registry cannot fill the disk.
    if (this.expected.size !== undefined && this.count > this.expected.size) {
      return new DigestMismatchError(
        this.expected.digest,
        `more than ${this.expected.size} bytes`,
        `blob ${this.expected.digest}: size`,
      );
    }
    return undefined;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const err = this.accept([chunk]);
    if (err) return cb(err);
    if (!this.file) return cb();
    writeAll(this.file.fd, [chunk], this.afterWrite(cb));
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    const bufs = chunks.map((c) => c.chunk);
    const err = this.accept(bufs);
    if (err) return cb(err);
    if (!this.file) return cb();
    writeAll(this.file.fd, bufs, this.afterWrite(cb));
  }

  /** Start the disk on what is written as it goes: the commit's fsync then finds little left. */
  private afterWrite(cb: (err?: Error | null) => void): (err?: Error | null) => void {
    return (err) => {
      if (!err && this.file) this.writeback?.wrote(this.count);
      cb(err);
    };
  }

  verify(): Promise<void> {
    this.verifying ??= this.doVerify();
    return this.verifying;
  }

  private async doVerify(): Promise<void> {
    try {
      if (this.destroyed && !this.writableFinished) throw this.errored ?? new SystemError(`blob ${this.expected.digest}: writer destroyed`);
      if (!this.writableFinished) {
        await new Promise<void>((resolve, reject) => {
          this.once('error', reject);
          this.once('finish', resolve);
          if (!this.writableEnded) this.end();
        });
      }
      const actual = 'sha256:' + this.hash.digest('hex');
      if (this.expected.size !== undefined && this.count !== this.expected.size) {
        throw new DigestMismatchError(
          this.expected.digest,
          `${actual} (${this.count} bytes, expected ${this.expected.size})`,
          `blob ${this.expected.digest}: size`,
        );
      }
      if (actual !== this.expected.digest) throw new DigestMismatchError(this.expected.digest, actual, `blob`);
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  commit(): Promise<void> {
    this.committing ??= this.doCommit();
    return this.committing;
  }

  private async doCommit(): Promise<void> {
    await this.verify();
    try {
      if (this.settled) throw new SystemError(`blob ${this.expected.digest}: ingest was aborted`);
      if (this.file) {
        const { fd, tmp } = this.file;
        if (this.durable) await new Promise<void>((res, rej) => fs.fsync(fd, (e) => (e ? rej(e) : res())));
        await new Promise<void>((res, rej) => fs.close(fd, (e) => (e ? rej(e) : res())));
        this.file.fd = -1;
        await fsp.rename(tmp, this.store.path(this.expected.digest));
        this.file = undefined;
        if (this.durable) await fsyncDir(this.store.blobsDir);
      }
      this.settled = true;
      this.release();
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    if (!this.destroyed) this.destroy();
    const file = this.file;
    this.file = undefined;
    if (file) {
      if (file.fd >= 0) await new Promise<void>((res) => fs.close(file.fd, () => res()));
      await fsp.rm(file.tmp, { force: true });
    }
    this.release();
  }
}

/** write(2)/writev(2) until every byte is on the fd (short writes do happen on some filesystems). */
function writeAll(fd: number, bufs: Buffer[], cb: (err?: Error | null) => void): void {
  fs.writev(fd, bufs, (err, n) => {
    if (err) return cb(err);
    let rest = n;
    const left: Buffer[] = [];
    for (const b of bufs) {
      if (rest >= b.length) {
        rest -= b.length;
      } else {
        left.push(b.subarray(rest));
        rest = 0;
      }
    }
    if (left.length === 0) return cb();
    writeAll(fd, left, cb);
  });
}

/** Makes a rename durable: the directory entry must reach the disk too, not only the file data. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
