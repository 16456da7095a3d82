// berth port CONTAINER [PRIVATE_PORT[/PROTO]]: the published ports, as docker prints them.
import { checkArgs, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';

const SPEC: CommandSpec = {
  name: 'port',
  usage: 'CONTAINER [PRIVATE_PORT[/PROTO]]',
  description: 'List port mappings or a specific mapping for the container',
  flags: [],
};

type Ports = Record<string, Array<{ HostIp: string; HostPort: string }> | null>;

export default async function port(ctx: Context, argv: string[]): Promise<number> {
  const { args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 1, 2);
  const c = await ctx.client().json<{ Name: string; NetworkSettings?: { Ports?: Ports } }>('GET', `/containers/${encodeURIComponent(args[0])}/json`);
  const ports = c.NetworkSettings?.Ports ?? {};
  const hostSide = (b: { HostIp: string; HostPort: string }) => `${b.HostIp.includes(':') ? `[${b.HostIp}]` : b.HostIp}:${b.HostPort}`;
  if (args[1]) {
    const [p, proto = 'tcp'] = args[1].split('/');
    if (!/^\d+$/.test(p)) throw new StatusError(`Error: invalid port (${p}): invalid syntax`, 1);
    const bindings = ports[`${p}/${proto}`];
    if (!bindings || bindings.length === 0) throw new StatusError(`Error: No public port '${p}/${proto}' published for ${c.Name.replace(/^\//, '')}`, 1);
    process.stdout.write(bindings.map((b) => `${hostSide(b)}\n`).join(''));
    return 0;
  }
  const lines: string[] = [];
  const keys = Object.keys(ports).sort((a, b) => parseInt(a) - parseInt(b) || a.localeCompare(b));
  for (const key of keys) for (const b of ports[key] ?? []) lines.push(`${key} -> ${hostSide(b)}`);
  process.stdout.write(lines.map((l) => `${l}\n`).join(''));
  return 0;
}
