// berth version: docker's Client/Server layout (values aligned at column 20).
import { arch } from 'node:os';
import { checkArgs, errorText, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';

const SPEC: CommandSpec = {
  name: 'version',
  usage: '[OPTIONS]',
  description: 'Show the berth version information',
  flags: [{ long: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' }],
};
const CLIENT_VERSION = '0.1.0';
const API_VERSION = '1.47';

interface Component {
  Name: string;
  Version: string;
  Details?: Record<string, string | undefined>;
}

interface ServerVersion {
  Platform?: { Name?: string };
  Components?: Component[];
  Version: string;
  ApiVersion: string;
  MinAPIVersion?: string;
  GitCommit?: string;
  GoVersion?: string;
  Os: string;
  Arch: string;
  BuildTime?: string;
  Experimental?: boolean;
}

function line(indent: number, label: string, value: string | undefined): string {
  return `${' '.repeat(indent)}${label.padEnd(20 - indent)}${value ?? ''}\n`;
}

export function renderVersion(server: ServerVersion | undefined): string {
  const goArch = arch() === 'x64' ? 'amd64' : arch();
  let out = 'Client:\n';
  out += line(1, 'Version:', CLIENT_VERSION);
  out += line(1, 'API version:', API_VERSION);
  out += line(1, 'Node version:', process.version);
  out += line(1, 'OS/Arch:', `linux/${goArch}`);
  // berth has no contexts; docker shows "default" whatever -H says.
  out += line(1, 'Context:', 'default');
  if (!server) return out;
  out += `\nServer: ${server.Platform?.Name ?? ''}\n`;
  const components = server.Components?.length
    ? server.Components
    : [{ Name: 'Engine', Version: server.Version, Details: { ApiVersion: server.ApiVersion, MinAPIVersion: server.MinAPIVersion, GitCommit: server.GitCommit, GoVersion: server.GoVersion, Os: server.Os, Arch: server.Arch, BuildTime: server.BuildTime } }];
  for (const c of components) {
    out += ` ${c.Name}:\n`;
    const d = c.Details ?? {};
    if (c.Name === 'Engine') {
      out += line(2, 'Version:', c.Version);
      out += line(2, 'API version:', `${d.ApiVersion ?? server.ApiVersion} (minimum version ${d.MinAPIVersion ?? server.MinAPIVersion ?? ''})`);
      out += line(2, 'Go version:', d.GoVersion);
      out += line(2, 'Git commit:', d.GitCommit);
      out += line(2, 'Built:', d.BuildTime);
      out += line(2, 'OS/Arch:', `${d.Os ?? server.Os}/${d.Arch ?? server.Arch}`);
      out += line(2, 'Experimental:', d.Experimental);
    } else {
      out += line(2, 'Version:', c.Version);
      for (const [k, v] of Object.entries(d)) out += line(2, `${k}:`, v);
    }
  }
  return out;
}

export default async function version(ctx: Context, argv: string[]): Promise<number> {
  const { args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 0, 0);
  let server: ServerVersion | undefined;
  let failure: unknown;
  try {
    server = await ctx.client().json<ServerVersion>('GET', '/version');
  } catch (err) {
    failure = err;
  }
  process.stdout.write(renderVersion(server));
  if (failure) throw new StatusError(errorText(failure), 1);
  return 0;
}
