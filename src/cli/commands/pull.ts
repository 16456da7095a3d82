// berth pull: docker's output, including "Using default tag" and the canonical name at the end.
import { checkArgs, parseArgs, type CommandSpec, type Context } from '../cli.js';
import { parseNormalizedNamed, refString } from '../format.js';
import { pullImage } from '../pull-stream.js';

const SPEC: CommandSpec = {
  name: 'pull',
  usage: '[OPTIONS] NAME[:TAG|@DIGEST]',
  description: 'Download an image from a registry',
  flags: [
    { long: 'all-tags', short: 'a', type: 'bool', description: 'Download all tagged images in the repository' },
    { long: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' },
    { long: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  ],
};

export default async function pull(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 1, 1);
  if (opts.allTags) throw new Error('--all-tags is not supported by berth yet');
  const ref = parseNormalizedNamed(args[0]);
  if (!ref.tag && !ref.digest) {
    ref.tag = 'latest';
    if (!opts.quiet) process.stdout.write('Using default tag: latest\n');
  }
  await pullImage(ctx.client(), ref, { platform: opts.platform as string | undefined, stream: opts.quiet ? undefined : process.stdout });
  process.stdout.write(`${refString(ref, false)}\n`);
  return 0;
}
