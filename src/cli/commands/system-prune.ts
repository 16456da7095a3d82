// berth system prune [-a] [-f] [--filter]: stopped containers, then dangling (with -a: unused)
// images, and the content store and snapshots nothing refers to; with --volumes, anonymous volumes
// no container uses. Networks and build cache are not pruned here, so the warning does not list them.
import { checkArgs, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { humanSize } from '../format.js';
import { deletedImagesText, pruneImages } from './image-prune.js';
import { confirm, filtersJson } from './prune-common.js';

const SPEC: CommandSpec = {
  name: 'system prune',
  usage: '[OPTIONS]',
  description: 'Remove unused data',
  flags: [
    { long: 'all', short: 'a', type: 'bool', description: 'Remove all unused images not just dangling ones' },
    { long: 'filter', type: 'list', description: 'Provide filter values (e.g. "label=<key>=<value>")', valueName: 'filter' },
    { long: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
    { long: 'volumes', type: 'bool', description: 'Prune anonymous volumes' },
  ],
};

export function warning(all: boolean, volumes = false): string {
  return [
    'WARNING! This will remove:',
    '  - all stopped containers',
    ...(volumes ? ['  - all anonymous volumes not used by at least one container'] : []),
    all ? '  - all images without at least one container associated to them' : '  - all dangling images',
    '(berth keeps no build cache, and user networks are pruned with `berth network prune`)',
    '',
  ].join('\n');
}

export default async function systemPrune(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 0, 0);
  const all = Boolean(opts.all);
  const filter = opts.filter as string[] | undefined;
  if (!opts.force && !(await confirm(warning(all, Boolean(opts.volumes))))) return 0;
  let filters: string | undefined;
  try {
    filters = filtersJson(filter);
  } catch (e) {
    throw new StatusError((e as Error).message, 1);
  }
  const containers = await ctx.client().json<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/containers/prune', { query: { filters } });
  let reclaimed = containers.SpaceReclaimed ?? 0;
  let out = '';
  if (containers.ContainersDeleted?.length) out += `Deleted Containers:\n${containers.ContainersDeleted.map((id) => `${id}\n`).join('')}\n`;
  if (opts.volumes) {
    const volumes = await ctx.client().json<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/volumes/prune', { query: { filters } });
    reclaimed += volumes.SpaceReclaimed ?? 0;
    if (volumes.VolumesDeleted?.length) out += `Deleted Volumes:\n${volumes.VolumesDeleted.map((v) => `${v}\n`).join('')}\n`;
  }
  const images = await pruneImages(ctx, all, filter);
  reclaimed += images.SpaceReclaimed ?? 0;
  out += deletedImagesText(images);
  out += `Total reclaimed space: ${humanSize(reclaimed)}\n`;
  process.stdout.write(out);
  return 0;
}
