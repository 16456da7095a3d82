// Gives memory that a burst of work freed back to the kernel once the burst is over.
//
// glibc keeps freed heap (zlib windows and stream buffers of a pull, push or build, in one arena
// per pool thread that touched them) mapped for reuse; V8 frees its own pages, glibc does not.
// Measured: ~33 MiB of berthd's RSS after pulling a 500 MB image, held for good. So after API
// activity the daemon asks the addon for malloc_trim(0), on a pool thread, at most once per
// TRIM_DELAY_MS: a busy daemon trims about once a second, an idle one never.
import { sysAddon } from '../runtime/sys.js';
import { logger } from '../util/log.js';

const log = logger('memory');
const TRIM_DELAY_MS = 1000;

export class MemoryTrimmer {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;

  constructor(private readonly trim: (() => Promise<boolean>) | null = defaultTrim()) {}

  /** Work happened (a request ended): trim within TRIM_DELAY_MS unless a trim is already due. */
  readonly noteActivity = (): void => {
    if (!this.trim) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => void this.run(), TRIM_DELAY_MS);
    // A pending trim must not keep a stopping daemon alive.
    this.timer.unref();
  };

  private async run(): Promise<void> {
    this.timer = undefined;
    this.running = true;
    try {
      const released = await this.trim!();
      log.trace({ released }, 'malloc_trim');
    } catch (err) {
      log.debug({ err }, 'malloc_trim failed');
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.noteActivity();
      }
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function defaultTrim(): (() => Promise<boolean>) | null {
  const sys = sysAddon();
  return sys ? () => sys.trimMemoryAsync() : null;
}
