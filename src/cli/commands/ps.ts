// berth ps: docker's table (CONTAINER ID IMAGE COMMAND CREATED STATUS PORTS NAMES).
import { checkArgs, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { containerRows, type ContainerSummary } from '../format.js';
import { filtersJson } from '../filters.js';

const SPEC: CommandSpec = {
  name: 'ps',
  usage: '[OPTIONS]',
  description: 'List containers',
  flags: [
    { long: 'all', short: 'a', type: 'bool', description: 'Show all containers (default shows just running)' },
    { long: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided' },
    { long: 'last', short: 'n', type: 'int', description: 'Show n last created containers (includes all states)', default: -1 },
    { long: 'latest', short: 'l', type: 'bool', description: 'Show the latest created container (includes all states)' },
    { long: 'no-trunc', type: 'bool', description: "Don't truncate output" },
    { long: 'format', type: 'string', description: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'" },
    { long: 'quiet', short: 'q', type: 'bool', description: 'Only display container IDs' },
    { long: 'size', short: 's', type: 'bool', description: 'Display total file sizes' },
  ],
};

export default async function ps(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 0, 0);
  // As docker's client: --latest is limit 1; a limit > 0 implies all states on the daemon side.
  let limit = opts.last as number;
  if (opts.latest && limit === -1) limit = 1;
  let format = (opts.format as string | undefined) ?? '';
  if (opts.quiet && format !== '') {
    process.stderr.write('WARNING: Ignoring custom format, because both --format and --quiet are set.\n');
    format = '';
  }
  // docker asks for sizes with --size or when the template uses them.
  const wantSize = Boolean(opts.size) || format.includes('.Size');
  const list = await ctx.client().json<ContainerSummary[]>('GET', '/containers/json', {
    query: {
      all: opts.all ? 1 : undefined,
      limit: limit > 0 ? limit : undefined,
      size: wantSize ? 1 : undefined,
      filters: filtersJson(opts.filter as string[] | undefined),
    },
  });
  if (format === '' && !opts.size) {
    process.stdout.write(containerRows(list ?? [], { quiet: Boolean(opts.quiet), noTrunc: Boolean(opts.noTrunc) }));
    return 0;
  }
  const lf = await import('../list-format.js');
  if (format === '' || format === 'table') format = lf.DEFAULT_PS_FORMAT + (opts.size ? '\t{{.Size}}' : '');
  const rows = (list ?? []).map((c) => lf.containerRow(c, { noTrunc: Boolean(opts.noTrunc) }));
  try {
    process.stdout.write(lf.renderList(format, rows, lf.CONTAINER_HEADERS, 'ContainerContext'));
  } catch (e) {
    if (e instanceof lf.FormatError) throw new StatusError(e.message, 1);
    throw e;
  }
  return 0;
}
