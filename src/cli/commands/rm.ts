// berth rm: each name printed on success, each failure on stderr, exit 1 if any failed.
import { checkArgs, errorText, parseArgs, type CommandSpec, type Context } from '../cli.js';

const SPEC: CommandSpec = {
  name: 'rm',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Remove one or more containers',
  flags: [
    { long: 'force', short: 'f', type: 'bool', description: 'Force the removal of a running container (uses SIGKILL)' },
    { long: 'link', short: 'l', type: 'bool', description: 'Remove the specified link' },
    { long: 'volumes', short: 'v', type: 'bool', description: 'Remove anonymous volumes associated with the container' },
  ],
};

export default async function rm(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 1);
  const client = ctx.client();
  // docker removes in parallel and reports in argument order.
  const results = await Promise.allSettled(
    args.map((name) =>
      client.call('DELETE', `/containers/${encodeURIComponent(name.replace(/^\//, ''))}`, {
        query: { force: opts.force ? 1 : undefined, v: opts.volumes ? 1 : undefined, link: opts.link ? 1 : undefined },
      }),
    ),
  );
  // docker prints the removed names as it goes and all errors together at the end.
  const errors: string[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') process.stdout.write(`${args[i]}\n`);
    else errors.push(errorText(r.reason));
  });
  if (errors.length) process.stderr.write(errors.join('\n') + '\n');
  return errors.length ? 1 : 0;
}
