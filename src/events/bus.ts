// The daemon's event bus: every part reports what happened with `emit(type, action, actor)`;
// GET /events streams the messages in docker's shape and replays a bounded ring for --since.
// Other parts (exec health_status, networks, volumes, images) hook in through the same call.

export type EventType = 'container' | 'image' | 'network' | 'volume' | 'daemon' | 'plugin' | 'node' | 'service' | 'secret' | 'config' | 'builder';

export interface EventActor {
  ID: string;
  Attributes: Record<string, string>;
}

/** docker's events.Message (API 1.47), with the deprecated status/id/from kept for containers and images. */
export interface EventMessage {
  status?: string;
  id?: string;
  from?: string;
  Type: EventType;
  Action: string;
  Actor: EventActor;
  scope: 'local' | 'swarm';
  time: number;
  timeNano: number;
}

export type EventListener = (m: EventMessage) => void;

/** docker keeps 256 events for replay; a few more cost nothing. */
export const EVENT_RING_SIZE = 1024;

export class EventBus {
  private readonly ring: EventMessage[] = [];
  private readonly listeners = new Set<EventListener>();
  private lastNano = 0n;

  constructor(private readonly ringSize = EVENT_RING_SIZE) {}

  emit(type: EventType, action: string, actor: { ID: string; Attributes?: Record<string, string> }): EventMessage {
    // Nanoseconds from the wall clock, strictly increasing so --since/--until replay is exact.
    // In steps of 256 ns: a JSON number this large is exact in JavaScript only at that grain.
    let nano = ((BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n)) / 256n) * 256n;
    if (nano <= this.lastNano) nano = this.lastNano + 256n;
    this.lastNano = nano;
    const m: EventMessage = {
      Type: type,
      Action: action,
      Actor: { ID: actor.ID, Attributes: { ...(actor.Attributes ?? {}) } },
      scope: 'local',
      time: Number(nano / 1_000_000_000n),
      timeNano: Number(nano),
    };
    if (type === 'container' || type === 'image') {
      // The pre-1.22 fields docker still sends for these two types.
      m.status = action;
      m.id = actor.ID;
      if (type === 'container' && actor.Attributes?.image) m.from = actor.Attributes.image;
      return this.publish({ status: m.status, id: m.id, ...(m.from ? { from: m.from } : {}), ...m });
    }
    return this.publish(m);
  }

  private publish(m: EventMessage): EventMessage {
    this.ring.push(m);
    if (this.ring.length > this.ringSize) this.ring.splice(0, this.ring.length - this.ringSize);
    for (const l of [...this.listeners]) {
      try {
        l(m);
      } catch {
        // A listener's failure is its own; the bus carries on.
      }
    }
    return m;
  }

  /** Replay of kept events with since < timeNano <= until (nanoseconds), oldest first. */
  replay(sinceNano?: bigint, untilNano?: bigint): EventMessage[] {
    return this.ring.filter((m) => {
      const t = BigInt(m.timeNano);
      return (sinceNano === undefined || t >= sinceNano) && (untilNano === undefined || t <= untilNano);
    });
  }

  subscribe(fn: EventListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
