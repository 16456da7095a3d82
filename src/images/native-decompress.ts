// Layer decompression on libuv's pool (native/decode.c): gzip by ISA-L's igzip, zstd by libzstd, with
// the SHA-256 of the output (the layer's diff_id) taken in the same pass. node's zlib inflates on the
// pool too, but at about a third of igzip's speed; zstd-napi decompressed on the event loop; and
// hashing 500 MB of tar on the event loop cost ~0.4 s per pull.
import { Transform, type TransformCallback } from 'node:stream';
import { SystemError } from '../util/errors.js';
import { layersAddon, type DecoderHandle } from '../util/native-layers.js';

/** Compressed bytes gathered before one native call: fewer pool round trips, and igzip runs its
 *  fast loop over long inputs (64 KiB socket reads one by one inflated ~2x slower). */
const BATCH_BYTES = 1 << 20;
/** The addon keeps freed output blocks for reuse; they go back once decompression has been quiet this long. */
const RELEASE_AFTER_MS = 2000;

let active = 0;
let releaseTimer: NodeJS.Timeout | undefined;

export type NativeCompression = 'gzip' | 'zstd';

/** A Transform from compressed bytes to what they decompress to; `digest()` is the SHA-256 of the output. */
export class NativeDecompressor extends Transform {
  private readonly native = layersAddon();
  private readonly handle: DecoderHandle;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private counted = true;
  private result: string | undefined;

  constructor(
    private readonly kind: NativeCompression,
    private readonly hashOutput: boolean,
  ) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    this.handle = this.native.create(kind, hashOutput);
    active++;
    if (releaseTimer) clearTimeout(releaseTimer);
    releaseTimer = undefined;
  }

  /** `sha256:<hex>` of every byte this stream put out; only once it has ended. */
  digest(): string {
    if (!this.hashOutput) throw new SystemError(`${this.kind}: created without hashing`);
    if (this.result === undefined) this.result = 'sha256:' + this.native.digest(this.handle);
    return this.result;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < BATCH_BYTES) return cb();
    this.decompressPending(false, cb);
  }

  override _flush(cb: TransformCallback): void {
    this.decompressPending(true, (err) => {
      this.uncount();
      cb(err);
    });
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.uncount();
    cb(err);
  }

  private decompressPending(final: boolean, cb: TransformCallback): void {
    const input = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.native.write(this.handle, input, final, (err, out) => {
      if (this.destroyed) return cb();
      if (err) return cb(new SystemError(`${this.kind}: ${err.message}`));
      for (const b of out) this.push(b);
      cb();
    });
  }

  private uncount(): void {
    if (!this.counted) return;
    this.counted = false;
    if (--active > 0) return;
    const native = this.native;
    releaseTimer = setTimeout(() => {
      releaseTimer = undefined;
      if (active === 0) native.release();
    }, RELEASE_AFTER_MS);
    releaseTimer.unref();
  }
}
