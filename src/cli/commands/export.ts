// berth export [-o file] CONTAINER: the container's filesystem as a tar.
import { checkArgs, parseArgs, type CommandSpec, type Context } from '../cli.js';
import { refuseTerminal, writeOutput } from './io-common.js';

const SPEC: CommandSpec = {
  name: 'export',
  usage: '[OPTIONS] CONTAINER',
  description: "Export a container's filesystem as a tar archive",
  flags: [{ long: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' }],
};

export default async function exportCommand(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 1, 1);
  const output = opts.output as string | undefined;
  refuseTerminal(output);
  const res = await ctx.client().request('GET', `/containers/${encodeURIComponent(args[0]!)}/export`);
  await writeOutput(res, output);
  return 0;
}
