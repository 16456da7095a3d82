// berth import [-c CHANGE] [-m MESSAGE] file|URL|- [REPOSITORY[:TAG]]: prints the new image ID.
import { createReadStream } from 'node:fs';
import { checkArgs, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { printMessages, queryWithLists, repoTag } from './io-common.js';

const SPEC: CommandSpec = {
  name: 'import',
  usage: '[OPTIONS] file|URL|- [REPOSITORY[:TAG]]',
  description: 'Import the contents from a tarball to create a filesystem image',
  flags: [
    { long: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image' },
    { long: 'message', short: 'm', type: 'string', description: 'Set commit message for imported image' },
    { long: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  ],
};

export default async function importCommand(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 1, 2);
  const [src, ref] = args as [string, string | undefined];
  const isUrl = /^https?:\/\//.test(src);
  let stream: NodeJS.ReadableStream | undefined;
  if (src === '-') {
    stream = process.stdin;
  } else if (!isUrl) {
    const file = createReadStream(src);
    await new Promise<void>((resolve, reject) => {
      file.once('open', () => resolve());
      file.once('error', (err) => reject(new StatusError(`open ${src}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : err.message}`, 1)));
    });
    stream = file;
  }
  const { repo, tag } = repoTag(ref);
  const query = queryWithLists({
    fromSrc: isUrl ? src : '-',
    repo,
    tag,
    message: (opts.message as string | undefined) || undefined,
    changes: opts.change as string[] | undefined,
    platform: opts.platform as string | undefined,
  });
  const res = await ctx.client().request('POST', `/images/create${query}`, { stream, headers: stream ? { 'Content-Type': 'application/x-tar' } : {} });
  await printMessages(res);
  return 0;
}
