// Size-based rotation of a running container's log, done by berthd while conmon writes.
//
// conmon 2.1 cannot rotate into numbered files itself: with --log-size-max it truncates (writes a
// fresh `<log>.tmp` and renames it over the log). What it can do is reopen its log on request
// (message type 2 on the bundle's `ctl` fifo: it opens `<log>.tmp` and renames it to `<log>`).
// So berthd watches the log's directory (inotify: no work while a container is quiet), and once
// the live file reaches max-size it renames the files (log-files.ts) and asks conmon to reopen.
// Until conmon has reopened it keeps appending to the file now named `.1`: nothing is lost.
// conmon's own --log-size-max (conmonSizeCap) bounds the disk while berthd is not running.
import { closeSync, constants, openSync, statSync, watch, writeSync, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { logger } from '../util/log.js';
import { rotateLogFiles } from './log-files.js';

const log = logger('logs');

export interface RotationPolicy {
  /** Bytes; the live file is rotated once it holds this much. */
  maxSize: number;
  /** Files kept in all, the live one included. */
  maxFile: number;
}

/** conmon's ctl fifo message that makes it reopen its log files (conmon's REOPEN_LOGS_EVENT). */
const REOPEN_LOGS = '2 0 0\n';

/**
 * The size at which conmon truncates the live file itself: a backstop for while berthd is down
 * (or too far behind), well above max-size so that berthd's rotation normally comes first.
 */
export function conmonSizeCap(policy: RotationPolicy): number {
  return policy.maxSize + Math.max(policy.maxSize, 1024 * 1024);
}

export class LogRotator {
  private watcher: FSWatcher | undefined;

  constructor(
    private readonly logPath: string,
    private readonly policy: RotationPolicy,
    /** The container's OCI bundle, where conmon's ctl fifo is. */
    private readonly bundleDir: string,
  ) {}

  start(): void {
    if (this.watcher) return;
    const name = basename(this.logPath);
    try {
      this.watcher = watch(dirname(this.logPath), { persistent: false }, (_event, file) => {
        if (!file || file.toString() === name) this.check();
      });
      this.watcher.on('error', (err) => log.warn({ err, path: this.logPath }, 'log watch failed; rotation stops for this container'));
    } catch (err) {
      log.warn({ err, path: this.logPath }, 'cannot watch the container log; it will not be rotated');
      return;
    }
    // What was written while berthd was away may already be over the limit.
    this.check();
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Rotate when the live file is full. Synchronous: readers never see half a rotation. */
  check(): void {
    let size: number;
    try {
      size = statSync(this.logPath).size;
    } catch {
      return; // renamed away, conmon has not reopened yet
    }
    if (size < this.policy.maxSize) return;
    try {
      rotateLogFiles(this.logPath, this.policy.maxFile);
    } catch (err) {
      log.warn({ err, path: this.logPath }, 'log rotation failed');
      return;
    }
    this.askConmonToReopen();
  }

  private askConmonToReopen(): void {
    let fd: number;
    try {
      // Non-blocking: a fifo without a reader (conmon gone) fails at once with ENXIO.
      fd = openSync(join(this.bundleDir, 'ctl'), constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (err) {
      log.debug({ err, path: this.logPath }, 'conmon not listening; its log will not be reopened');
      return;
    }
    try {
      writeSync(fd, REOPEN_LOGS);
    } catch (err) {
      log.warn({ err, path: this.logPath }, 'asking conmon to reopen the log failed');
    } finally {
      closeSync(fd);
    }
  }
}
