// berth images: docker's table (REPOSITORY TAG IMAGE ID CREATED SIZE), -q, --digests, --no-trunc.
import { checkArgs, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { imageRows, type ImageSummary } from '../format.js';

const SPEC: CommandSpec = {
  name: 'images',
  usage: '[OPTIONS] [REPOSITORY[:TAG]]',
  description: 'List images',
  flags: [
    { long: 'all', short: 'a', type: 'bool', description: 'Show all images (default hides intermediate images)' },
    { long: 'digests', type: 'bool', description: 'Show digests' },
    { long: 'format', type: 'string', description: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'" },
    { long: 'no-trunc', type: 'bool', description: "Don't truncate output" },
    { long: 'quiet', short: 'q', type: 'bool', description: 'Only show image IDs' },
  ],
};

export default async function images(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 0, 1);
  const filters = args[0] ? JSON.stringify({ reference: { [args[0]]: true } }) : undefined;
  const list = await ctx.client().json<ImageSummary[]>('GET', '/images/json', { query: { all: opts.all ? 1 : undefined, filters } });
  let format = (opts.format as string | undefined) ?? '';
  // Unlike ps, docker images lets --format win over --quiet.
  if (format === '' || (format === 'table' && opts.quiet)) {
    process.stdout.write(imageRows(list ?? [], { quiet: Boolean(opts.quiet), noTrunc: Boolean(opts.noTrunc), digests: Boolean(opts.digests) }));
    return 0;
  }
  const lf = await import('../list-format.js');
  if (format === 'table') format = opts.digests ? lf.DEFAULT_IMAGES_DIGESTS_FORMAT : lf.DEFAULT_IMAGES_FORMAT;
  const rows = lf.imageRowsFor(list ?? [], { noTrunc: Boolean(opts.noTrunc), digests: Boolean(opts.digests) || format.includes('.Digest') });
  try {
    process.stdout.write(lf.renderList(format, rows, lf.IMAGE_HEADERS, 'ImageContext'));
  } catch (e) {
    if (e instanceof lf.FormatError) throw new StatusError(e.message, 1);
    throw e;
  }
  return 0;
}
