// berth events: docker's event stream, printed as docker's CLI prints it (or with --format).
import { jsonLines } from '../api-client.js';
import { checkArgs, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { execTemplate, TemplateError } from '../template.js';
import { filtersJson } from '../filters.js';
import { timeArg } from './logs.js';

const SPEC: CommandSpec = {
  name: 'events',
  usage: '[OPTIONS]',
  description: 'Get real time events from the server',
  flags: [
    { long: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided' },
    { long: 'format', type: 'string', description: "Format output using a custom template: 'json' or 'TEMPLATE'" },
    { long: 'since', type: 'string', description: 'Show all events created since timestamp' },
    { long: 'until', type: 'string', description: 'Stream events until this timestamp' },
  ],
};

export interface EventMessage {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  time?: number;
  timeNano?: number;
  [k: string]: unknown;
}

/** Go's time.Format(RFC3339NanoFixed) in the local zone, for a time in nanoseconds. */
export function rfc3339NanoFixed(nano: bigint, tzOffsetMinutes = -new Date(Number(nano / 1_000_000n)).getTimezoneOffset()): string {
  const ms = Number(nano / 1_000_000n) + tzOffsetMinutes * 60_000;
  const base = new Date(ms).toISOString().slice(0, 19);
  const frac = String(nano % 1_000_000_000n).padStart(9, '0');
  if (tzOffsetMinutes === 0) return `${base}.${frac}Z`;
  const sign = tzOffsetMinutes < 0 ? '-' : '+';
  const a = Math.abs(tzOffsetMinutes);
  return `${base}.${frac}${sign}${String(Math.trunc(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/** docker's prettyPrintEvent. */
export function prettyEvent(e: EventMessage): string {
  let out = '';
  if (e.timeNano) out += `${rfc3339NanoFixed(BigInt(e.timeNano))} `;
  else if (e.time) out += `${rfc3339NanoFixed(BigInt(e.time) * 1_000_000_000n)} `;
  out += `${e.Type} ${e.Action} ${e.Actor.ID}`;
  const attrs = e.Actor.Attributes ?? {};
  const keys = Object.keys(attrs).sort();
  if (keys.length) out += ` (${keys.map((k) => `${k}=${attrs[k]}`).join(', ')})`;
  return out + '\n';
}

export default async function events(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 0, 0);
  let since: string | undefined;
  let until: string | undefined;
  try {
    since = opts.since ? timeArg(opts.since as string) : undefined;
    until = opts.until ? timeArg(opts.until as string) : undefined;
  } catch (err) {
    throw new StatusError((err as Error).message, 1);
  }
  const res = await ctx.client().request('GET', '/events', { query: { since, until, filters: filtersJson(opts.filter as string[] | undefined) } });
  let format = (opts.format as string | undefined) ?? '';
  if (format === 'json') format = '{{json .}}';
  for await (const e of jsonLines<EventMessage>(res as AsyncIterable<Buffer>)) {
    if (format === '') {
      process.stdout.write(prettyEvent(e));
      continue;
    }
    try {
      process.stdout.write(execTemplate(format, e) + '\n');
    } catch (err) {
      if (err instanceof TemplateError) throw new StatusError(`template parsing error: ${err.message}`, 64);
      throw err;
    }
  }
  return 0;
}
