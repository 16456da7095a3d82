// berth image prune [-a] [-f] [--filter]: docker's prompt, "Deleted Images:" and reclaimed space.
import { checkArgs, parseArgs, type CommandSpec, type Context } from '../cli.js';
import { humanSize } from '../format.js';
import { confirm, filtersJson } from './prune-common.js';

const SPEC: CommandSpec = {
  name: 'image prune',
  usage: '[OPTIONS]',
  description: 'Remove unused images',
  flags: [
    { long: 'all', short: 'a', type: 'bool', description: 'Remove all unused images, not just dangling ones' },
    { long: 'filter', type: 'list', description: 'Provide filter values (e.g. "until=<timestamp>")', valueName: 'filter' },
    { long: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ],
};

export const DANGLING_WARNING = 'WARNING! This will remove all dangling images.';
export const ALL_WARNING = 'WARNING! This will remove all images without at least one container associated to them.';

interface PruneReport {
  ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }> | null;
  SpaceReclaimed: number;
}

/** The "Deleted Images:" block, as docker prints it (lower-case untagged/deleted). */
export function deletedImagesText(report: PruneReport): string {
  const items = report.ImagesDeleted ?? [];
  if (items.length === 0) return '';
  let out = 'Deleted Images:\n';
  for (const i of items) {
    if (i.Untagged) out += `untagged: ${i.Untagged}\n`;
    if (i.Deleted) out += `deleted: ${i.Deleted}\n`;
  }
  return out + '\n';
}

export async function pruneImages(ctx: Context, all: boolean, filter: string[] | undefined): Promise<PruneReport> {
  const filters = filtersJson(filter, all ? { dangling: ['false'] } : { dangling: ['true'] });
  return ctx.client().json<PruneReport>('POST', '/images/prune', { query: { filters } });
}

export default async function imagePrune(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 0, 0);
  if (!opts.force && !(await confirm(opts.all ? ALL_WARNING : DANGLING_WARNING))) return 0;
  const report = await pruneImages(ctx, Boolean(opts.all), opts.filter as string[] | undefined);
  process.stdout.write(deletedImagesText(report));
  process.stdout.write(`Total reclaimed space: ${humanSize(report.SpaceReclaimed)}\n`);
  return 0;
}
