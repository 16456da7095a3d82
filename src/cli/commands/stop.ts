// berth stop / berth kill: one request per container (in parallel, as docker), each name printed
// on success in argument order, each failure on stderr, exit 1 if any failed.
import { checkArgs, errorText, parseArgs, type CommandSpec, type Context } from '../cli.js';

const STOP: CommandSpec = {
  name: 'stop',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Stop one or more running containers',
  flags: [
    { long: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' },
    { long: 'timeout', short: 't', type: 'int', description: 'Seconds to wait before killing the container' },
  ],
};

const KILL: CommandSpec = {
  name: 'kill',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Kill one or more running containers',
  flags: [{ long: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' }],
};

async function each(ctx: Context, names: string[], action: string, query: Record<string, string | number | undefined>): Promise<number> {
  const client = ctx.client();
  const results = await Promise.allSettled(names.map((name) => client.call('POST', `/containers/${encodeURIComponent(name)}/${action}`, { query })));
  let failed = false;
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') process.stdout.write(`${names[i]}\n`);
    else {
      failed = true;
      process.stderr.write(`${errorText(r.reason)}\n`);
    }
  });
  return failed ? 1 : 0;
}

export async function stop(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(STOP, argv);
  checkArgs(STOP, args, 1);
  return each(ctx, args, 'stop', { signal: (opts.signal as string | undefined) || undefined, t: opts.timeout as number | undefined });
}

export async function kill(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(KILL, argv);
  checkArgs(KILL, args, 1);
  return each(ctx, args, 'kill', { signal: (opts.signal as string | undefined) || undefined });
}

export default stop;
