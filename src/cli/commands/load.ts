// berth load [-i file] [-q]: "Loaded image: name:tag" / "Loaded image ID: sha256:..." as docker.
import { createReadStream } from 'node:fs';
import { checkArgs, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { printMessages } from './io-common.js';

const SPEC: CommandSpec = {
  name: 'load',
  usage: '[OPTIONS]',
  description: 'Load an image from a tar archive or STDIN',
  flags: [
    { long: 'input', short: 'i', type: 'string', description: 'Read from tar archive file, instead of STDIN' },
    { long: 'quiet', short: 'q', type: 'bool', description: 'Suppress the load output' },
    { long: 'platform', type: 'string', description: 'Load only the given platform variant' },
  ],
};

export default async function load(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 0, 0);
  const input = opts.input as string | undefined;
  if (!input && process.stdin.isTTY) throw new StatusError('requested load from stdin, but stdin is empty', 1);
  const stream = input ? createReadStream(input) : process.stdin;
  if (input) {
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (err: Error) => reject(new StatusError(`open ${input}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : err.message}`, 1)));
    });
  }
  const res = await ctx.client().request('POST', '/images/load', {
    query: { quiet: opts.quiet ? 1 : undefined },
    headers: { 'Content-Type': 'application/x-tar' },
    stream,
  });
  await printMessages(res);
  return 0;
}
