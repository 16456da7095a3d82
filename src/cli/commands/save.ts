// berth save [-o file] IMAGE...: docker's image archive on stdout or into a file.
import { checkArgs, parseArgs, type CommandSpec, type Context } from '../cli.js';
import { queryWithLists, refuseTerminal, writeOutput } from './io-common.js';

const SPEC: CommandSpec = {
  name: 'save',
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  description: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  flags: [
    { long: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' },
    { long: 'platform', type: 'string', description: 'Save only the given platform variant' },
  ],
};

export default async function save(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 1);
  const output = opts.output as string | undefined;
  refuseTerminal(output);
  const res = await ctx.client().request('GET', `/images/get${queryWithLists({ names: args })}`);
  await writeOutput(res, output);
  return 0;
}
