// Container events in docker's shape: Actor.Attributes carry the container's labels, image and
// name, plus what the action adds (exitCode, signal, oldName...).
import type { EventBus } from '../events/bus.js';
import type { ContainerRecord } from './model.js';

export function containerAttributes(c: ContainerRecord, extra: Record<string, string> = {}): Record<string, string> {
  return { ...(c.config.Labels ?? {}), image: c.image, name: c.name, ...extra };
}

export function emitContainerEvent(bus: EventBus, c: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
  bus.emit('container', action, { ID: c.id, Attributes: containerAttributes(c, extra) });
}
