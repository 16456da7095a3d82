// berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]: POST /images/{name}/tag, as docker tag.
import { checkArgs, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { parseNormalizedNamed } from '../format.js';

const SPEC: CommandSpec = {
  name: 'tag',
  usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  description: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  flags: [],
};

export default async function tag(ctx: Context, argv: string[]): Promise<number> {
  const { args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 2, 2);
  let target;
  try {
    target = parseNormalizedNamed(args[1]);
  } catch (err) {
    throw new StatusError(`Error parsing reference: "${args[1]}" is not a valid repository/tag: ${(err as Error).message}`, 1);
  }
  if (target.digest) throw new StatusError('refusing to create a tag with a digest reference', 1);
  await ctx.client().call('POST', `/images/${args[0]}/tag`, { query: { repo: target.name, tag: target.tag ?? 'latest' } });
  return 0;
}
