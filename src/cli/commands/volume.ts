// berth volume create|ls|inspect|rm|prune, with docker's output and exit codes.
import { checkArgs, errorText, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { humanSize } from '../format.js';
import { writeInspected } from './inspect.js';
import { confirm, filtersJson } from './prune-common.js';

interface VolumeJson {
  Name: string;
  Driver: string;
  Scope: string;
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string> | null;
}

const SPECS: Record<string, CommandSpec> = {
  create: {
    name: 'volume create',
    usage: '[OPTIONS] [VOLUME]',
    description: 'Create a volume',
    flags: [
      { long: 'driver', short: 'd', type: 'string', description: 'Specify volume driver name', default: 'local' },
      { long: 'label', type: 'list', description: 'Set metadata for a volume' },
      { long: 'name', type: 'string', description: 'Specify volume name' },
      { long: 'opt', short: 'o', type: 'list', valueName: 'map', description: 'Set driver specific options' },
    ],
  },
  ls: {
    name: 'volume ls',
    usage: '[OPTIONS]',
    description: 'List volumes',
    flags: [
      { long: 'filter', short: 'f', type: 'list', valueName: 'filter', description: "Provide filter values (e.g. 'dangling=true')" },
      { long: 'format', type: 'string', description: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'" },
      { long: 'quiet', short: 'q', type: 'bool', description: 'Only display volume names' },
    ],
  },
  inspect: {
    name: 'volume inspect',
    usage: '[OPTIONS] VOLUME [VOLUME...]',
    description: 'Display detailed information on one or more volumes',
    flags: [{ long: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' }],
  },
  rm: {
    name: 'volume rm',
    usage: '[OPTIONS] VOLUME [VOLUME...]',
    description: 'Remove one or more volumes',
    flags: [{ long: 'force', short: 'f', type: 'bool', description: 'Force the removal of one or more volumes' }],
  },
  prune: {
    name: 'volume prune',
    usage: '[OPTIONS]',
    description: 'Remove unused local volumes',
    flags: [
      { long: 'all', short: 'a', type: 'bool', description: 'Remove all unused volumes, not just anonymous ones' },
      { long: 'filter', type: 'list', valueName: 'filter', description: "Provide filter values (e.g. 'label=<label>')" },
      { long: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
    ],
  },
};
const ALIASES: Record<string, string> = { list: 'ls', remove: 'rm' };

const USAGE = `
Usage:  berth volume COMMAND

Manage volumes

Commands:
  create      Create a volume
  inspect     Display detailed information on one or more volumes
  ls          List volumes
  prune       Remove unused local volumes
  rm          Remove one or more volumes

Run 'berth volume COMMAND --help' for more information on a command.
`;

function keyValues(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list ?? []) {
    const i = l.indexOf('=');
    out[i >= 0 ? l.slice(0, i) : l] = i >= 0 ? l.slice(i + 1) : '';
  }
  return out;
}

const daemonError = (err: unknown) => `Error response from daemon: ${errorText(err).replace(/^Error response from daemon: /, '')}`;

function filters(list: string[] | undefined, extra: Record<string, string[]> = {}): string | undefined {
  try {
    return filtersJson(list, extra);
  } catch (e) {
    throw new StatusError((e as Error).message, 125);
  }
}

export default async function volume(ctx: Context, argv: string[]): Promise<number> {
  const [sub0, ...rest] = argv;
  const sub = ALIASES[sub0] ?? sub0;
  const spec = SPECS[sub];
  if (!sub0 || sub0 === '--help' || sub0 === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!spec) throw new StatusError(`berth: unknown command: berth volume ${sub0}\n\nRun 'berth volume --help' for more information`, 1);
  const { opts, args } = parseArgs(spec, rest);
  const client = ctx.client();
  switch (sub) {
    case 'create': {
      checkArgs(spec, args, 0, 1);
      const name = args[0] ?? (opts.name as string | undefined) ?? '';
      if (args[0] && opts.name && opts.name !== args[0]) throw new StatusError(`conflicting options: either specify --name or provide positional arg, not both`, 1);
      const body = { Name: name, Driver: opts.driver, DriverOpts: keyValues(opts.opt as string[] | undefined), Labels: keyValues(opts.label as string[] | undefined) };
      try {
        const v = await client.json<VolumeJson>('POST', '/volumes/create', { body });
        process.stdout.write(`${v.Name}\n`);
      } catch (err) {
        throw new StatusError(daemonError(err), 1);
      }
      return 0;
    }
    case 'ls': {
      checkArgs(spec, args, 0, 0);
      const res = await client.json<{ Volumes: VolumeJson[] | null }>('GET', '/volumes', { query: { filters: filters(opts.filter as string[] | undefined) } });
      const list = (res.Volumes ?? []).sort((a, b) => a.Name.localeCompare(b.Name));
      let format = (opts.format as string | undefined) ?? '';
      if (opts.quiet && (format === '' || format === 'table')) {
        process.stdout.write(list.map((v) => `${v.Name}\n`).join(''));
        return 0;
      }
      if (format === '' || format === 'table') format = 'table {{.Driver}}\t{{.Name}}';
      const rows = list.map((v) => ({
        Name: v.Name,
        Driver: v.Driver,
        Scope: v.Scope,
        Mountpoint: v.Mountpoint,
        Labels: Object.entries(v.Labels ?? {}).map(([k, val]) => `${k}=${val}`).join(','),
        Links: 'N/A',
        Size: 'N/A',
        CreatedAt: v.CreatedAt,
      }));
      const lf = await import('../list-format.js');
      try {
        process.stdout.write(
          lf.renderList(format, rows, { Name: 'VOLUME NAME', Driver: 'DRIVER', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', Labels: 'LABELS', Links: 'LINKS', Size: 'SIZE', CreatedAt: 'CREATED AT' }, 'volumeContext'),
        );
      } catch (e) {
        if (e instanceof lf.FormatError) throw new StatusError(e.message, 1);
        throw e;
      }
      return 0;
    }
    case 'inspect': {
      checkArgs(spec, args, 1);
      const found: unknown[] = [];
      const errors: string[] = [];
      for (const name of args) {
        try {
          found.push(await client.json('GET', `/volumes/${encodeURIComponent(name)}`));
        } catch (err) {
          errors.push(daemonError(err));
        }
      }
      writeInspected(found, opts.format as string | undefined);
      if (errors.length) {
        process.stderr.write(errors.join('\n') + '\n');
        return 1;
      }
      return 0;
    }
    case 'rm': {
      checkArgs(spec, args, 1);
      const errors: string[] = [];
      for (const name of args) {
        try {
          await client.call('DELETE', `/volumes/${encodeURIComponent(name)}`, { query: { force: opts.force ? 1 : undefined } });
          process.stdout.write(`${name}\n`);
        } catch (err) {
          errors.push(daemonError(err));
        }
      }
      if (errors.length) process.stderr.write(errors.join('\n') + '\n');
      return errors.length ? 1 : 0;
    }
    case 'prune': {
      checkArgs(spec, args, 0, 0);
      const all = Boolean(opts.all);
      if (!opts.force) {
        const warning = all ? 'WARNING! This will remove all local volumes not used by at least one container.' : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
        if (!(await confirm(warning))) return 0;
      }
      const res = await client.json<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/volumes/prune', {
        query: { filters: filters(opts.filter as string[] | undefined, all ? { all: ['true'] } : {}) },
      });
      const deleted = res.VolumesDeleted ?? [];
      let out = '';
      if (deleted.length > 0) out += `Deleted Volumes:\n${deleted.join('\n')}\n\n`;
      out += `Total reclaimed space: ${humanSize(res.SpaceReclaimed ?? 0)}\n`;
      process.stdout.write(out);
      return 0;
    }
  }
  return 0;
}
