// One LogRotator (runtime/log-rotation.ts) per running container: started when it starts or,
// after a daemon restart, for the containers still running; stopped when its run ends.
import { logger } from '../util/log.js';
import { LogRotator } from '../runtime/log-rotation.js';
import { recordLogPolicy } from './log-config.js';
import type { ContainerManager } from './manager.js';

const log = logger('logs');

export class LogRotationMonitor {
  private readonly rotators = new Map<string, LogRotator>();

  constructor(private readonly containers: ContainerManager) {}

  init(): void {
    this.containers.lifecycle.on('start', (id: string) => this.watch(id));
    this.containers.lifecycle.on('exit', (id: string) => this.unwatch(id));
    for (const c of this.containers.list()) {
      if (c.state.Status === 'running' || c.state.Status === 'paused') this.watch(c.id);
    }
  }

  close(): void {
    for (const id of [...this.rotators.keys()]) this.unwatch(id);
  }

  private watch(id: string): void {
    this.unwatch(id);
    const c = this.containers.find(id);
    if (!c) return;
    try {
      const rotator = new LogRotator(c.logPath, recordLogPolicy(c.hostConfig).rotation, this.containers.bundleDir(id));
      this.rotators.set(id, rotator);
      rotator.start();
    } catch (err) {
      log.warn({ err, id }, 'container log will not be rotated');
    }
  }

  private unwatch(id: string): void {
    this.rotators.get(id)?.stop();
    this.rotators.delete(id);
  }
}
