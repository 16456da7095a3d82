// berth network create|ls|inspect|rm|connect|disconnect|prune, with docker's output and exit codes.
import { createInterface } from 'node:readline';
import { checkArgs, errorText, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { writeInspected } from './inspect.js';

interface NetworkJson {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  Created: string;
  Internal: boolean;
  EnableIPv6: boolean;
  Labels: Record<string, string> | null;
  IPAM?: unknown;
}

const SPECS: Record<string, CommandSpec> = {
  create: {
    name: 'network create',
    usage: '[OPTIONS] NETWORK',
    description: 'Create a network',
    flags: [
      { long: 'attachable', type: 'bool', description: 'Enable manual container attachment' },
      { long: 'driver', short: 'd', type: 'string', description: 'Driver to manage the Network', default: 'bridge' },
      { long: 'gateway', type: 'list', valueName: 'strings', description: 'IPv4 or IPv6 Gateway for the master subnet' },
      { long: 'internal', type: 'bool', description: 'Restrict external access to the network' },
      { long: 'ipv6', type: 'bool', description: 'Enable or disable IPv6 networking' },
      { long: 'label', type: 'list', description: 'Set metadata on a network' },
      { long: 'opt', short: 'o', type: 'list', valueName: 'map', description: 'Set driver specific options' },
      { long: 'subnet', type: 'list', valueName: 'strings', description: 'Subnet in CIDR format that represents a network segment' },
    ],
  },
  ls: {
    name: 'network ls',
    usage: '[OPTIONS]',
    description: 'List networks',
    flags: [
      { long: 'filter', short: 'f', type: 'list', valueName: 'filter', description: "Provide filter values (e.g. 'driver=bridge')" },
      { long: 'format', type: 'string', description: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'" },
      { long: 'no-trunc', type: 'bool', description: 'Do not truncate the output' },
      { long: 'quiet', short: 'q', type: 'bool', description: 'Only display network IDs' },
    ],
  },
  inspect: {
    name: 'network inspect',
    usage: '[OPTIONS] NETWORK [NETWORK...]',
    description: 'Display detailed information on one or more networks',
    flags: [
      { long: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' },
      { long: 'verbose', short: 'v', type: 'bool', description: 'Verbose output for diagnostics' },
    ],
  },
  rm: { name: 'network rm', usage: 'NETWORK [NETWORK...]', description: 'Remove one or more networks', flags: [{ long: 'force', short: 'f', type: 'bool', description: 'Do not error if the network does not exist' }] },
  connect: {
    name: 'network connect',
    usage: '[OPTIONS] NETWORK CONTAINER',
    description: 'Connect a container to a network',
    flags: [{ long: 'alias', type: 'list', valueName: 'strings', description: 'Add network-scoped alias for the container' }],
  },
  disconnect: {
    name: 'network disconnect',
    usage: '[OPTIONS] NETWORK CONTAINER',
    description: 'Disconnect a container from a network',
    flags: [{ long: 'force', short: 'f', type: 'bool', description: 'Force the container to disconnect from a network' }],
  },
  prune: {
    name: 'network prune',
    usage: '[OPTIONS]',
    description: 'Remove all unused networks',
    flags: [
      { long: 'filter', type: 'list', valueName: 'filter', description: "Provide filter values (e.g. 'until=<timestamp>')" },
      { long: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
    ],
  },
};
const ALIASES: Record<string, string> = { list: 'ls', remove: 'rm' };

const USAGE = `
Usage:  berth network COMMAND

Manage networks

Commands:
  connect     Connect a container to a network
  create      Create a network
  disconnect  Disconnect a container from a network
  inspect     Display detailed information on one or more networks
  ls          List networks
  prune       Remove all unused networks
  rm          Remove one or more networks

Run 'berth network COMMAND --help' for more information on a command.
`;

/** --filter k=v (repeatable) to the API's filters JSON. */
export function filtersJson(list: string[] | undefined): string | undefined {
  if (!list || list.length === 0) return undefined;
  const out: Record<string, Record<string, boolean>> = {};
  for (const f of list) {
    const i = f.indexOf('=');
    if (i <= 0) throw new StatusError(`bad format of filter (expected name=value)`, 125);
    (out[f.slice(0, i)] ??= {})[f.slice(i + 1)] = true;
  }
  return JSON.stringify(out);
}

/** key=value pairs (--label, --opt) to a map. */
function keyValues(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list ?? []) {
    const i = l.indexOf('=');
    out[i >= 0 ? l.slice(0, i) : l] = i >= 0 ? l.slice(i + 1) : '';
  }
  return out;
}

async function confirm(question: string): Promise<boolean> {
  process.stdout.write(question);
  const rl = createInterface({ input: process.stdin });
  const line = await new Promise<string>((resolve) => {
    rl.once('line', resolve);
    rl.once('close', () => resolve(''));
  });
  rl.close();
  return /^y(es)?$/i.test(line.trim());
}

export default async function network(ctx: Context, argv: string[]): Promise<number> {
  const [sub0, ...rest] = argv;
  const sub = ALIASES[sub0] ?? sub0;
  const spec = SPECS[sub];
  if (!sub0 || sub0 === '--help' || sub0 === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!spec) throw new StatusError(`berth: unknown command: berth network ${sub0}\n\nRun 'berth network --help' for more information`, 1);
  const { opts, args } = parseArgs(spec, rest);
  const client = ctx.client();
  switch (sub) {
    case 'create': {
      checkArgs(spec, args, 1, 1);
      const subnets = (opts.subnet as string[] | undefined) ?? [];
      const gateways = (opts.gateway as string[] | undefined) ?? [];
      if (gateways.length > subnets.length) throw new StatusError('Error response from daemon: gateway requires a subnet (--subnet)'.replace('Error response from daemon: ', ''), 1);
      const body = {
        Name: args[0],
        Driver: opts.driver,
        Internal: Boolean(opts.internal),
        Attachable: Boolean(opts.attachable),
        EnableIPv6: Boolean(opts.ipv6),
        Options: keyValues(opts.opt as string[] | undefined),
        Labels: keyValues(opts.label as string[] | undefined),
        IPAM: { Driver: 'default', Config: subnets.map((s, i) => ({ Subnet: s, ...(gateways[i] ? { Gateway: gateways[i] } : {}) })), Options: {} },
      };
      try {
        const res = await client.json<{ Id: string }>('POST', '/networks/create', { body });
        process.stdout.write(`${res.Id}\n`);
      } catch (err) {
        throw new StatusError(`Error response from daemon: ${errorText(err).replace(/^Error response from daemon: /, '')}`, 1);
      }
      return 0;
    }
    case 'ls': {
      checkArgs(spec, args, 0, 0);
      const list = (await client.json<NetworkJson[]>('GET', '/networks', { query: { filters: filtersJson(opts.filter as string[] | undefined) } })) ?? [];
      list.sort((a, b) => a.Name.localeCompare(b.Name));
      const noTrunc = Boolean(opts.noTrunc);
      const id = (n: NetworkJson) => (noTrunc ? n.Id : n.Id.slice(0, 12));
      let format = (opts.format as string | undefined) ?? '';
      if (opts.quiet && (format === '' || format === 'table')) {
        process.stdout.write(list.map((n) => `${id(n)}\n`).join(''));
        return 0;
      }
      if (format === '' || format === 'table') format = 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}';
      const rows = list.map((n) => ({
        ID: id(n),
        Name: n.Name,
        Driver: n.Driver,
        Scope: n.Scope,
        IPv6: String(n.EnableIPv6),
        Internal: String(n.Internal),
        Labels: Object.entries(n.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
        CreatedAt: n.Created,
      }));
      const lf = await import('../list-format.js');
      try {
        process.stdout.write(lf.renderList(format, rows, { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', Internal: 'INTERNAL', Labels: 'LABELS', CreatedAt: 'CREATED AT' }, 'networkContext'));
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
          found.push(await client.json('GET', `/networks/${encodeURIComponent(name)}`));
        } catch (err) {
          errors.push(`Error response from daemon: ${errorText(err).replace(/^Error response from daemon: /, '')}`);
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
      let failed = false;
      for (const name of args) {
        try {
          await client.call('DELETE', `/networks/${encodeURIComponent(name)}`);
          process.stdout.write(`${name}\n`);
        } catch (err) {
          if (opts.force && /not found/.test(errorText(err))) continue;
          process.stderr.write(`Error response from daemon: ${errorText(err).replace(/^Error response from daemon: /, '')}\n`);
          failed = true;
        }
      }
      return failed ? 1 : 0;
    }
    case 'connect':
    case 'disconnect': {
      checkArgs(spec, args, 2, 2);
      const body =
        sub === 'connect'
          ? { Container: args[1], EndpointConfig: { Aliases: (opts.alias as string[] | undefined) ?? null } }
          : { Container: args[1], Force: Boolean(opts.force) };
      try {
        await client.call('POST', `/networks/${encodeURIComponent(args[0])}/${sub}`, { body });
      } catch (err) {
        throw new StatusError(`Error response from daemon: ${errorText(err).replace(/^Error response from daemon: /, '')}`, 1);
      }
      return 0;
    }
    case 'prune': {
      checkArgs(spec, args, 0, 0);
      if (!opts.force) {
        const ok = await confirm('WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ');
        if (!ok) return 0;
      }
      const res = await client.json<{ NetworksDeleted: string[] | null }>('POST', '/networks/prune', { query: { filters: filtersJson(opts.filter as string[] | undefined) } });
      const deleted = res.NetworksDeleted ?? [];
      if (deleted.length > 0) process.stdout.write(`Deleted Networks:\n${deleted.join('\n')}\n\n`);
      return 0;
    }
  }
  return 0;
}
