// Pull = resolve + fetch + unpack (pull.ts) + record the image and its tag (ImageStore).
// Concurrent pulls of one reference share one run; each caller still gets the progress stream.
import { EventEmitter } from 'node:events';
import type { RegistryAuth, RegistryClient, ImageReference } from '../registry/types.js';
import { canonicalString } from '../registry/reference.js';
import type { ContentStore } from '../store/content.js';
import { pullImage, type PullProgress } from './pull.js';
import type { SnapshotStore } from './snapshots.js';
import type { ImageStore } from './store.js';

export interface PullOutcome {
  id: string;
  repoDigest: string;
  /** False when the tag already pointed at this image: docker's "Image is up to date". */
  updated: boolean;
}

interface InFlight {
  done: Promise<PullOutcome>;
  progress: EventEmitter;
}

export class PullService {
  private readonly inFlight = new Map<string, InFlight>();

  constructor(
    private readonly deps: { registry: RegistryClient; content: ContentStore; snapshots: SnapshotStore; images: ImageStore },
  ) {}

  pull(ref: ImageReference, opts: { auth?: RegistryAuth; onProgress?: (ev: PullProgress) => void }): Promise<PullOutcome> {
    const key = canonicalString(ref);
    let run = this.inFlight.get(key);
    if (!run) {
      const progress = new EventEmitter();
      progress.setMaxListeners(0);
      const done = this.run(ref, opts.auth, progress).finally(() => this.inFlight.delete(key));
      run = { done, progress };
      this.inFlight.set(key, run);
    }
    const listener = (ev: PullProgress) => opts.onProgress?.(ev);
    run.progress.on('progress', listener);
    return run.done.finally(() => run!.progress.off('progress', listener));
  }

  private async run(ref: ImageReference, auth: RegistryAuth | undefined, progress: EventEmitter): Promise<PullOutcome> {
    const before = this.deps.images.resolveId(canonicalString(ref));
    const pulled = await pullImage(this.deps, ref, {
      auth,
      onProgress: (ev) => progress.emit('progress', ev),
    });
    const repo = canonicalString({ domain: ref.domain, path: ref.path });
    this.deps.images.add(
      {
        id: pulled.id,
        repoDigests: [`${repo}@${pulled.repoDigest}`],
        manifestDigest: pulled.manifestDigest,
        manifestMediaType: pulled.manifestMediaType,
        chainIds: pulled.layers.map((l) => l.chainId),
        diffIds: pulled.layers.map((l) => l.diffId),
        size: pulled.layers.reduce((sum, l) => sum + l.size, 0),
        created: pulled.config.created ?? '',
        addedAt: Date.now(),
      },
      ref,
    );
    return { id: pulled.id, repoDigest: pulled.repoDigest, updated: before !== pulled.id };
  }
}
