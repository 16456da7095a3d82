// berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]: no output on success, as docker.
import { checkArgs, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { familiarName, parseNormalizedNamed } from '../format.js';

const SPEC: CommandSpec = {
  name: 'tag',
  usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  description: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  flags: [],
};

export default async function tag(ctx: Context, argv: string[]): Promise<number> {
  const { args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 2, 2);
  const [source, target] = args as [string, string];
  let ref;
  try {
    ref = parseNormalizedNamed(target);
  } catch {
    throw new StatusError(`Error parsing reference: "${target}" is not a valid repository/tag: invalid reference format`, 1);
  }
  if (ref.digest) throw new StatusError(`refusing to create a tag with a digest reference`, 1);
  await ctx.client().call('POST', `/images/${source}/tag`, { query: { repo: ref.name, tag: ref.tag ?? 'latest' } });
  void familiarName;
  return 0;
}
