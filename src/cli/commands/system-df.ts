// berth system df [-v] [--format]: docker's TYPE TOTAL ACTIVE SIZE RECLAIMABLE summary and the
// verbose per-image/per-container/per-volume tables. berth has no build cache: its row says 0,
// which is the truth.
import { checkArgs, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { humanSize } from '../format.js';

const SPEC: CommandSpec = {
  name: 'system df',
  usage: '[OPTIONS]',
  description: 'Show berth disk usage',
  flags: [
    { long: 'format', type: 'string', description: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'" },
    { long: 'verbose', short: 'v', type: 'bool', description: 'Show detailed information on space usage' },
  ],
};

interface DfImage {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Created: number;
  Size: number;
  SharedSize: number;
  Containers: number;
}
interface DfContainer {
  Id: string;
  Names?: string[];
  Image: string;
  ImageID?: string;
  Command: string;
  Created: number;
  State?: string;
  Status: string;
  SizeRw?: number;
}
interface DfVolume {
  Name: string;
  UsageData?: { Size: number; RefCount: number } | null;
}
interface Df {
  LayersSize?: number;
  Images?: DfImage[] | null;
  Containers?: DfContainer[] | null;
  Volumes?: DfVolume[] | null;
  BuildCache?: unknown[] | null;
}

const HEADERS: Record<string, string> = { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' };
const DEFAULT_FORMAT = 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}';

function withPercent(reclaimable: number, total: number): string {
  return total > 0 ? `${humanSize(reclaimable)} (${Math.floor((reclaimable * 100) / total)}%)` : humanSize(reclaimable);
}

function active(c: DfContainer): boolean {
  return ['running', 'paused', 'restarting'].includes(c.State ?? '');
}

export function summaryRows(df: Df): Array<Record<string, string>> {
  const images = df.Images ?? [];
  const containers = df.Containers ?? [];
  const layers = df.LayersSize ?? 0;
  let usedByActive = 0;
  for (const i of images) if (i.Containers > 0) usedByActive += i.Size - i.SharedSize;
  const rwTotal = containers.reduce((s, c) => s + (c.SizeRw ?? 0), 0);
  const volumes = df.Volumes ?? [];
  const volTotal = volumes.reduce((s, v) => s + Math.max(0, v.UsageData?.Size ?? 0), 0);
  const volReclaimable = volumes.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).reduce((s, v) => s + Math.max(0, v.UsageData?.Size ?? 0), 0);
  const rwReclaimable = containers.filter((c) => !active(c)).reduce((s, c) => s + (c.SizeRw ?? 0), 0);
  return [
    {
      Type: 'Images',
      TotalCount: String(images.length),
      Active: String(images.filter((i) => i.Containers > 0).length),
      Size: humanSize(layers),
      Reclaimable: withPercent(layers - usedByActive, layers),
    },
    {
      Type: 'Containers',
      TotalCount: String(containers.length),
      Active: String(containers.filter(active).length),
      Size: humanSize(rwTotal),
      Reclaimable: withPercent(rwReclaimable, rwTotal),
    },
    {
      Type: 'Local Volumes',
      TotalCount: String(volumes.length),
      Active: String(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length),
      Size: humanSize(volTotal),
      Reclaimable: withPercent(volReclaimable, volTotal),
    },
    { Type: 'Build Cache', TotalCount: '0', Active: '0', Size: '0B', Reclaimable: '0B' },
  ];
}

export default async function systemDf(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 0, 0);
  const df = await ctx.client().json<Df>('GET', '/system/df');
  const lf = await import('../list-format.js');
  try {
    if (!opts.verbose) {
      let format = (opts.format as string | undefined) || 'table';
      if (format === 'table') format = DEFAULT_FORMAT;
      process.stdout.write(lf.renderList(format, summaryRows(df), HEADERS, 'diskUsageContext'));
      return 0;
    }
    // docker prints shared and unique sizes with go-units' default precision (4), the rest with 3.
    const imageRows = lf.imageRowsFor(df.Images ?? []);
    {
      let i = 0;
      for (const img of df.Images ?? []) {
        const rowsOfImage = Math.max(1, (img.RepoTags ?? []).length);
        for (let k = 0; k < rowsOfImage && i < imageRows.length; k++, i++) {
          imageRows[i]!.SharedSize = humanSize(img.SharedSize);
          imageRows[i]!.UniqueSize = humanSize(img.Size - img.SharedSize);
        }
      }
    }
    let out = 'Images space usage:\n\n';
    out += lf.renderList(
      'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}',
      imageRows,
      lf.IMAGE_HEADERS,
      'ImageContext',
    );
    out += '\nContainers space usage:\n\n';
    const containerRows = (df.Containers ?? []).map((c) => ({ ...lf.containerRow(c), Size: humanSize(c.SizeRw ?? 0) }));
    out += lf.renderList(
      'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}',
      containerRows,
      lf.CONTAINER_HEADERS,
      'ContainerContext',
    );
    out += '\nLocal Volumes space usage:\n\n';
    out += lf.tabwrite('VOLUME NAME\tLINKS\tSIZE\n' + (df.Volumes ?? []).map((v) => `${v.Name}\t${v.UsageData?.RefCount ?? 0}\t${humanSize(v.UsageData?.Size ?? 0)}\n`).join(''));
    out += '\nBuild cache usage: 0B\n\n';
    out += lf.tabwrite('CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n');
    process.stdout.write(out);
  } catch (e) {
    if (e instanceof lf.FormatError) throw new StatusError(e.message, 1);
    throw e;
  }
  return 0;
}
