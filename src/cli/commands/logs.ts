// berth logs: frames demultiplexed to our stdout/stderr (raw copy for TTY containers).
import { FrameDemuxer } from '../api-client.js';
import { checkArgs, parseArgs, type CommandSpec, type Context } from '../cli.js';

const SPEC: CommandSpec = {
  name: 'logs',
  usage: '[OPTIONS] CONTAINER',
  description: 'Fetch the logs of a container',
  flags: [
    { long: 'details', type: 'bool', description: 'Show extra details provided to logs' },
    { long: 'follow', short: 'f', type: 'bool', description: 'Follow log output' },
    { long: 'since', type: 'string', description: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
    { long: 'tail', short: 'n', type: 'string', description: 'Number of lines to show from the end of the logs', default: 'all' },
    { long: 'timestamps', short: 't', type: 'bool', description: 'Show timestamps' },
    { long: 'until', type: 'string', description: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
  ],
};

/** docker's --since/--until: durations ("10m", "1h30m") relative to now, unix seconds, or RFC 3339. */
export function timeArg(value: string, nowMs = Date.now()): string {
  if (/^\d+(\.\d+)?$/.test(value)) return value;
  const dur = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$/.exec(value);
  if (dur && value !== '') {
    const ms = (Number(dur[1] ?? 0) * 3600 + Number(dur[2] ?? 0) * 60 + Number(dur[3] ?? 0)) * 1000 + Number(dur[4] ?? 0);
    return ((nowMs - ms) / 1000).toFixed(9);
  }
  // RFC 3339 with up to nine fraction digits: kept exact ("%d.%09d", as docker's GetTimestamp).
  const m = /^(.*?\d\d:\d\d(?::\d\d)?)\.(\d{1,9})(Z|[+-]\d\d:?\d\d)?$/.exec(value);
  const t = Date.parse(m ? `${m[1]}${m[3] ?? 'Z'}` : value);
  if (Number.isNaN(t)) throw new Error(`invalid value for "since": failed to parse value as time or duration: "${value}"`);
  const seconds = Math.floor(t / 1000);
  const nanos = m ? Number((m[2] + '000000000').slice(0, 9)) + (t - seconds * 1000) * 1e6 : (t - seconds * 1000) * 1e6;
  return `${seconds}.${String(nanos).padStart(9, '0')}`;
}

export default async function logs(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 1, 1);
  const client = ctx.client();
  // docker inspects first: it needs to know whether the container has a TTY (raw stream).
  const info = await client.json<{ Id: string; Config?: { Tty?: boolean } }>('GET', `/containers/${encodeURIComponent(args[0])}/json`);
  const res = await client.request('GET', `/containers/${encodeURIComponent(args[0])}/logs`, {
    query: {
      stdout: 1,
      stderr: 1,
      follow: opts.follow ? 1 : undefined,
      timestamps: opts.timestamps ? 1 : undefined,
      tail: opts.tail as string,
      since: opts.since ? timeArg(opts.since as string) : undefined,
      until: opts.until ? timeArg(opts.until as string) : undefined,
      details: opts.details ? 1 : undefined,
    },
  });
  const tty = Boolean(info.Config?.Tty);
  const demux = tty ? undefined : new FrameDemuxer((s, data) => (s === 2 || s === 3 ? process.stderr : process.stdout).write(data));
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (demux) demux.push(chunk);
    else process.stdout.write(chunk);
  }
  return 0;
}
