// berth push: POST /images/{name}/push with the stored credentials, docker's progress display.
import { jsonLines } from '../api-client.js';
import { checkArgs, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { parseNormalizedNamed } from '../format.js';
import { JsonMessageDisplay, JsonMessageError, type JsonMessage } from '../progress.js';
import { authHeaderFor } from '../../registry/auth-config.js';

const SPEC: CommandSpec = {
  name: 'push',
  usage: '[OPTIONS] NAME[:TAG]',
  description: 'Upload an image to a registry',
  flags: [
    { long: 'all-tags', short: 'a', type: 'bool', description: 'Push all tags of an image to the repository' },
    { long: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' },
  ],
};

export default async function push(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 1, 1);
  const ref = parseNormalizedNamed(args[0]);
  if (ref.digest) throw new StatusError(`invalid reference format: cannot push a digest reference`, 1);
  if (opts.allTags && ref.tag) throw new StatusError(`tag can't be used with --all-tags/-a`, 1);
  if (!opts.allTags && !ref.tag) {
    ref.tag = 'latest';
    if (!opts.quiet) process.stdout.write('Using default tag: latest\n');
  }
  const domain = ref.name.slice(0, ref.name.indexOf('/'));
  const res = await ctx.client().request('POST', `/images/${ref.name}/push`, {
    query: { tag: ref.tag },
    headers: { 'X-Registry-Auth': authHeaderFor(domain)['X-Registry-Auth'] ?? 'e30=' },
  });
  const out = process.stdout;
  const display = new JsonMessageDisplay(opts.quiet ? () => {} : (s) => out.write(s), Boolean(out.isTTY) && !opts.quiet, out.isTTY && out.columns ? out.columns : 200);
  try {
    for await (const msg of jsonLines<JsonMessage>(res)) display.handle(msg);
  } catch (err) {
    if (err instanceof JsonMessageError) throw new StatusError(err.message, 1);
    throw err;
  }
  if (opts.quiet) out.write(`${args[0]}${ref.tag && !args[0].endsWith(`:${ref.tag}`) ? `:${ref.tag}` : ''}\n`);
  return 0;
}
