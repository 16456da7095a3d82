// berth-layers.node (native/gunzip.c, filehash.c): gzip inflating with ISA-L's igzip and SHA-256 of
// files, both on libuv's pool. Required: `npm run build` builds it (it needs libisal-dev).
import { createRequire } from 'node:module';
import { nativePath } from './assets.js';
import { SystemError } from './errors.js';

export interface GunzipHandle {
  readonly __gunzip: unique symbol;
}

export interface LayersAddon {
  /** A gzip stream's state; with `hash`, the SHA-256 of its output is taken as it goes. */
  create(hash: boolean): GunzipHandle;
  /** Inflates `input` on the pool; one write at a time per handle. */
  write(handle: GunzipHandle, input: Buffer, final: boolean, cb: (err: Error | null, out: Buffer[]) => void): void;
  /** Hex SHA-256 of everything put out, after the final write. */
  digest(handle: GunzipHandle): string;
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
    throw new SystemError(`cannot load ${path} (run npm run build; it needs libisal-dev): ${(err as Error).message}`);
  }
  return addon;
}

/** `sha256:<hex>` of the file at `path`, off the event loop. */
export async function sha256File(path: string): Promise<string> {
  return 'sha256:' + (await layersAddon().sha256FileAsync(path));
}
