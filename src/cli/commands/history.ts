// berth history: docker's IMAGE CREATED CREATED BY SIZE COMMENT table, -H, --no-trunc, -q, --format.
import { checkArgs, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { ellipsis, humanSizeWithPrecision, since, truncateId } from '../format.js';

const SPEC: CommandSpec = {
  name: 'history',
  usage: '[OPTIONS] IMAGE',
  description: 'Show the history of an image',
  flags: [
    { long: 'format', type: 'string', description: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'" },
    { long: 'human', short: 'H', type: 'bool', description: 'Print sizes and dates in human readable format', default: true },
    { long: 'no-trunc', type: 'bool', description: "Don't truncate output" },
    { long: 'quiet', short: 'q', type: 'bool', description: 'Only show image IDs' },
  ],
};

interface HistoryItem {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

const HEADERS: Record<string, string> = {
  ID: 'IMAGE',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  CreatedBy: 'CREATED BY',
  Size: 'SIZE',
  Comment: 'COMMENT',
};
const DEFAULT_FORMAT = 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}';

/** Go's time.Format(time.RFC3339) in the local zone. */
export function rfc3339Local(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const off = -d.getTimezoneOffset();
  const pad = (n: number) => String(Math.abs(n)).padStart(2, '0');
  const local = new Date(d.getTime() + off * 60_000).toISOString().slice(0, 19);
  return off === 0 ? `${local}Z` : `${local}${off > 0 ? '+' : '-'}${pad(Math.trunc(off / 60))}:${pad(off % 60)}`;
}

export default async function history(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 1, 1);
  const items = (await ctx.client().json<HistoryItem[]>('GET', `/images/${args[0]}/history`)) ?? [];
  const trunc = !opts.noTrunc;
  const human = opts.human !== false;
  const id = (h: HistoryItem) => (trunc && h.Id !== '<missing>' ? truncateId(h.Id) : h.Id);
  if (opts.quiet && !opts.format) {
    process.stdout.write(items.map((h) => id(h) + '\n').join(''));
    return 0;
  }
  const rows = items.map((h) => {
    const createdBy = h.CreatedBy.replace(/\t/g, ' ');
    return {
      ID: id(h),
      CreatedSince: human ? since(h.Created) : rfc3339Local(h.Created),
      CreatedAt: rfc3339Local(h.Created),
      CreatedBy: trunc ? ellipsis(createdBy, 45) : createdBy,
      Size: human ? humanSizeWithPrecision(h.Size, 3) : String(h.Size),
      Comment: h.Comment,
    };
  });
  let format = (opts.format as string | undefined) || 'table';
  if (format === 'table') format = DEFAULT_FORMAT;
  const lf = await import('../list-format.js');
  try {
    process.stdout.write(lf.renderList(format, rows, HEADERS, 'historyContext'));
  } catch (e) {
    if (e instanceof lf.FormatError) throw new StatusError(e.message, 1);
    throw e;
  }
  return 0;
}
