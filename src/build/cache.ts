// The build cache: one small JSON file per step key (parent state + instruction + inputs) holding
// the step's resulting state. Its layers stay alive through the image store's garbage collection
// (roots()), so a cached step's snapshot and blob are there when it is reused.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Descriptor, ImageConfig } from '../images/oci.js';
import { logger } from '../util/log.js';

const log = logger('build-cache');

export interface CachedState {
  config: ImageConfig;
  chainIds: string[];
  layers: Descriptor[];
  /** Unpacked bytes per layer. */
  sizes: number[];
}

export class BuildCache {
  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  private path(key: string): string {
    return join(this.dir, `${key}.json`);
  }

  get(key: string): CachedState | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.path(key), 'utf8')) as CachedState;
    } catch {
      return undefined;
    }
  }

  put(key: string, state: CachedState): void {
    const tmp = `${this.path(key)}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify({ config: state.config, chainIds: state.chainIds, layers: state.layers, sizes: state.sizes }));
      fs.renameSync(tmp, this.path(key));
    } catch (err) {
      log.warn({ err, key }, 'cannot write build cache entry');
    }
  }

  /** Marks a state as recently used (nothing to do for now: entries live until pruned). */
  touch(_state: CachedState): void {}

  /** Snapshots and blobs the cache refers to, for the image store's garbage collection. */
  roots(): { chainIds: string[]; blobs: string[] } {
    const chainIds = new Set<string>();
    const blobs = new Set<string>();
    for (const name of fs.readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue;
      const s = this.get(name.slice(0, -5));
      s?.chainIds.forEach((c) => chainIds.add(c));
      s?.layers.forEach((l) => blobs.add(l.digest));
    }
    return { chainIds: [...chainIds], blobs: [...blobs] };
  }
}
