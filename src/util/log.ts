// One leveled logger for the daemon. The CLI does not log; it prints what the user asked for.
import { pino, type Logger } from 'pino';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

let root: Logger = pino({ level: process.env.BERTH_LOG_LEVEL ?? 'info', base: undefined }, pino.destination(2));

export function configureLogging(level: LogLevel, destination?: string): void {
  root = pino({ level, base: undefined }, destination ? pino.destination(destination) : pino.destination(2));
}

const children = new Set<Logger>();

export function logger(component: string): Logger {
  // child() is cheap; components hold the child so a reconfigure before wiring takes effect.
  const child = root.child({ component });
  children.add(child);
  return child;
}

/** Change the level of every logger handed out so far (daemon.json reload on SIGHUP). */
export function setLogLevel(level: LogLevel): void {
  root.level = level;
  for (const child of children) child.level = level;
}

export type { Logger };
