// berth-layers.node (native/decode.c, filehash.c): gzip (ISA-L's igzip) and zstd (libzstd) layer
// decompression and SHA-256 of files, all on libuv's pool. Required: `npm run build` builds it (it
// needs libisal-dev and libzstd-dev).
import { createRequire } from 'node:module';
import { nativePath } from './assets.js';
import { SystemError } from './errors.js';

export interface DecoderHandle {
  readonly __decoder: unique symbol;
}

export interface LayersAddon {
  /** A gzip or zstd stream's state; with `hash`, the SHA-256 of its output is taken as it goes. */
  create(kind: 'gzip' | 'zstd', hash: boolean): DecoderHandle;
  /** Decompresses `input` on the pool; one write at a time per handle. */
  write(handle: DecoderHandle, input: Buffer, final: boolean, cb: (err: Error | null, out: Buffer[]) => void): void;
  /** Hex SHA-256 of everything put out, after the final write. */
  digest(handle: DecoderHandle): string;
  /** Frees the output blocks kept for reuse. */
  release(): void;
  /** Hex SHA-256 of a file, read and hashed on the pool. */
  sha256FileAsync(path: string): Promise<string>;
}

let addon: LayersAddon | undefined;

export function layersAddon(): LayersAddon {
  if (addon) return addon;
  const path = nativePath('berth-layers.node');
  try {
    addon = createRequire(import.meta.url)(path) as LayersAddon;
  } catch (err) {
    throw new SystemError(`cannot load ${path} (run npm run build; it needs libisal-dev and libzstd-dev): ${(err as Error).message}`);
  }
  return addon;
}

/** `sha256:<hex>` of the file at `path`, off the event loop. */
export async function sha256File(path: string): Promise<string> {
  return 'sha256:' + (await layersAddon().sha256FileAsync(path));
}
