// berth commit [-a] [-c] [-m] [-p] CONTAINER [REPOSITORY[:TAG]]: prints the new image ID.
import { checkArgs, parseArgs, type CommandSpec, type Context } from '../cli.js';
import { queryWithLists, repoTag } from './io-common.js';

const SPEC: CommandSpec = {
  name: 'commit',
  usage: '[OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  description: "Create a new image from a container's changes",
  flags: [
    { long: 'author', short: 'a', type: 'string', description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
    { long: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image' },
    { long: 'message', short: 'm', type: 'string', description: 'Commit message' },
    { long: 'pause', short: 'p', type: 'bool', description: 'Pause container during commit', default: true },
  ],
};

export default async function commit(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 1, 2);
  const { repo, tag } = repoTag(args[1]);
  const query = queryWithLists({
    container: args[0],
    repo,
    tag,
    comment: (opts.message as string | undefined) || undefined,
    author: (opts.author as string | undefined) || undefined,
    pause: opts.pause === false ? '0' : '1',
    changes: opts.change as string[] | undefined,
  });
  const r = await ctx.client().json<{ Id: string }>('POST', `/commit${query}`);
  process.stdout.write(`${r.Id}\n`);
  return 0;
}
