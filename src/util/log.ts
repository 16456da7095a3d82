// One leveled logger for the daemon. The CLI does not log; it prints what the user asked for.
import { pino, type Logger } from 'pino';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

let root: Logger = pino({ level: process.env.BERTH_LOG_LEVEL ?? 'info', base: undefined }, pino.destination(2));

export function configureLogging(level: LogLevel, destination?: string): void {
  root = pino({ level, base: undefined }, destination ? pino.destination(destination) : pino.destination(2));
}

export function logger(component: string): Logger {
  // child() is cheap; components hold the child so a reconfigure before wiring takes effect.
  return root.child({ component });
}

export type { Logger };
