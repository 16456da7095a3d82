// berth diff CONTAINER: "A /path", "C /path", "D /path" as docker.
import { checkArgs, parseArgs, type CommandSpec, type Context } from '../cli.js';

const SPEC: CommandSpec = {
  name: 'diff',
  usage: 'CONTAINER',
  description: "Inspect changes to files or directories on a container's filesystem",
  flags: [],
};

const KIND = ['C', 'A', 'D'];

export default async function diff(ctx: Context, argv: string[]): Promise<number> {
  const { args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 1, 1);
  const changes = (await ctx.client().json<Array<{ Path: string; Kind: number }> | null>('GET', `/containers/${encodeURIComponent(args[0]!)}/changes`)) ?? [];
  process.stdout.write(changes.map((c) => `${KIND[c.Kind] ?? '?'} ${c.Path}\n`).join(''));
  return 0;
}
