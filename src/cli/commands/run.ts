// berth run: create (pulling a missing image), attach, wait, start, exit with the container's
// status, as docker's run.go does. Exit codes: 125 for berth/daemon errors, 126/127 when the
// command cannot be invoked/found, otherwise the container's own status.
import { envEntry, envFile } from '../env-file.js';
import type { Socket } from 'node:net';
import { ApiError, type ApiClient } from '../api-client.js';
import { parseArgs, StatusError, checkArgs, errorText, type CommandSpec, type Context } from '../cli.js';
import { parseNormalizedNamed, refString } from '../format.js';
import { HEALTH_FLAGS, healthcheckFromOptions, type HealthOptions } from '../health-flags.js';
import { pullImage } from '../pull-stream.js';
import type { FlagDef } from '../flags.js';
import { LIMIT_FLAGS, limitsHostConfig, type LimitOptions } from '../limit-flags.js';
import { MOUNT_FLAGS, mountsFromFlags, type MountFlagOptions } from '../mount-flags.js';
export { ramInBytes } from '../limit-flags.js';
import { checkTtyInput, consoleSize, monitorTtySize, pumpStream, rawTerminal } from '../stream.js';

export const SPEC: CommandSpec = {
  name: 'run',
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create and run a new container from an image',
  stopAtFirstArg: true,
  flags: ([
    { long: 'add-host', type: 'list', description: 'Add a custom host-to-IP mapping (host:ip)' },
    { long: 'detach', short: 'd', type: 'bool', description: 'Run container in background and print container ID' },
    { long: 'dns', type: 'list', description: 'Set custom DNS servers' },
    { long: 'dns-option', type: 'list', description: 'Set DNS options' },
    { long: 'dns-search', type: 'list', description: 'Set custom DNS search domains' },
    { long: 'entrypoint', type: 'string', description: 'Overwrite the default ENTRYPOINT of the image' },
    { long: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
    { long: 'env-file', type: 'list', description: 'Read in a file of environment variables' },
    { long: 'expose', type: 'list', description: 'Expose a port or a range of ports' },
    { long: 'hostname', short: 'h', type: 'string', description: 'Container host name' },
    { long: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' },
    { long: 'label', short: 'l', type: 'list', description: 'Set meta data on a container' },
    { long: 'log-driver', type: 'string', description: 'Logging driver for the container' },
    { long: 'log-opt', type: 'list', description: 'Log driver options' },
    { long: 'name', type: 'string', description: 'Assign a name to the container' },
    { long: 'network', type: 'string', valueName: 'network', description: 'Connect a container to a network' },
    { long: 'network-alias', type: 'list', description: 'Add network-scoped alias for the container' },
    { long: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
    { long: 'publish', short: 'p', type: 'list', description: "Publish a container's port(s) to the host" },
    { long: 'publish-all', short: 'P', type: 'bool', description: 'Publish all exposed ports to random ports' },
    { long: 'pull', type: 'string', description: 'Pull image before running ("always", "missing", "never")', default: 'missing' },
    { long: 'quiet', short: 'q', type: 'bool', description: 'Suppress the pull output' },
    { long: 'restart', type: 'string', description: 'Restart policy to apply when a container exits', default: 'no' },
    { long: 'rm', type: 'bool', description: 'Automatically remove the container and its associated anonymous volumes when it exits' },
    { long: 'sig-proxy', type: 'bool', description: 'Proxy received signals to the process', default: true },
    { long: 'stop-signal', type: 'string', description: 'Signal to stop a container' },
    { long: 'stop-timeout', type: 'int', description: 'Timeout (in seconds) to stop a container' },
    { long: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' },
    { long: 'user', short: 'u', type: 'string', description: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
    { long: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
    ...LIMIT_FLAGS,
    ...HEALTH_FLAGS,
    ...MOUNT_FLAGS,
  // Byte order, as docker lists flags (localeCompare would also load ICU's collator: ~12 ms of
  // every `berth run`).
  ] as FlagDef[]).sort((a, b) => (a.long < b.long ? -1 : a.long > b.long ? 1 : 0)),
};

/** docker's withHelp decoration for run errors. */
export function runError(message: string, code: number): StatusError {
  return new StatusError(`berth: ${message}\n\nRun 'berth run --help' for more information`, code);
}

/** toStatusError: the daemon's start error tells whether the command was missing or not runnable. */
export function startErrorCode(message: string): number {
  if (message.includes('executable file not found') || message.includes('no such file or directory') || message.includes('system cannot find the file specified')) return 127;
  if (message.includes('permission denied') || message.includes('is a directory')) return 126;
  return 125;
}

interface PortSpec {
  exposed: Record<string, object>;
  bindings: Record<string, Array<{ HostIp: string; HostPort: string }>>;
}

function portRange(s: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2] ?? m[1]) : NaN;
  // A host port of 0 means "any", as in docker.
  if (!m || lo < (what === 'hostPort' ? 0 : 1) || hi > 65535 || hi < lo || (lo === 0 && hi !== 0)) throw new Error(`invalid ${what}: ${s}`);
  return [lo, hi];
}

/**
 * -p [ip:][hostPort:]containerPort[/proto], with ranges as nat.ParsePortSpec takes them: equal
 * ranges map one to one; one container port with a host range takes any free port of the range.
 */
export function parsePorts(specs: string[]): PortSpec {
  const out: PortSpec = { exposed: {}, bindings: {} };
  for (const spec of specs) {
    const slash = spec.lastIndexOf('/');
    const [addr, proto] = slash > spec.lastIndexOf(']') && slash >= 0 ? [spec.slice(0, slash), spec.slice(slash + 1).toLowerCase()] : [spec, 'tcp'];
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new Error(`invalid proto: ${proto}`);
    const parts = addr.startsWith('[') ? addr.split(/(?<=\]):/) : addr.split(':');
    let ip = '';
    let host = '';
    let container: string;
    if (parts.length === 1) container = parts[0];
    else if (parts.length === 2) [host, container] = parts;
    else if (parts.length === 3) [ip, host, container] = parts;
    else throw new Error(`invalid port format: ${spec}`);
    ip = ip.replace(/^\[|\]$/g, '');
    if (ip && !/^[\d.]+$/.test(ip) && !ip.includes(':')) throw new Error(`invalid IP address: ${ip}`);
    const [cLo, cHi] = portRange(container, 'containerPort');
    const hostRange = host ? portRange(host, 'hostPort') : undefined;
    const count = cHi - cLo + 1;
    if (hostRange && count > 1 && hostRange[1] - hostRange[0] + 1 !== count) {
      throw new Error(`invalid ranges specified for container and host Ports: ${container} and ${host}`);
    }
    for (let i = 0; i < count; i++) {
      const key = `${cLo + i}/${proto}`;
      out.exposed[key] = {};
      let hostPort = '';
      if (hostRange) hostPort = count > 1 ? String(hostRange[0] + i) : hostRange[0] === hostRange[1] ? String(hostRange[0]) : `${hostRange[0]}-${hostRange[1]}`;
      (out.bindings[key] ??= []).push({ HostIp: ip, HostPort: hostPort });
    }
  }
  return out;
}


export interface RunOptions extends LimitOptions, HealthOptions, MountFlagOptions {
  detach?: boolean;
  rm?: boolean;
  env?: string[];
  envFile?: string[];
  name?: string;
  workdir?: string;
  user?: string;
  entrypoint?: string;
  interactive?: boolean;
  tty?: boolean;
  label?: string[];
  hostname?: string;
  platform?: string;
  pull?: string;
  quiet?: boolean;
  publish?: string[];
  network?: string;
  networkAlias?: string[];
  addHost?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOption?: string[];
  expose?: string[];
  publishAll?: boolean;
  restart?: string;
  stopSignal?: string;
  stopTimeout?: number;
  sigProxy?: boolean;
  logDriver?: string;
  logOpt?: string[];
}

/** docker's parseLoggingOpts: key=value pairs (a bare key is an empty value); none takes none. */
function logConfigFromOptions(o: RunOptions): { Type: string; Config: Record<string, string> } {
  const driver = o.logDriver ?? '';
  const opts = o.logOpt ?? [];
  if (driver === 'none' && opts.length > 0) throw new Error(`invalid logging opts for driver ${driver}`);
  const config: Record<string, string> = {};
  for (const kv of opts) {
    const i = kv.indexOf('=');
    config[i >= 0 ? kv.slice(0, i) : kv] = i >= 0 ? kv.slice(i + 1) : '';
  }
  return { Type: driver, Config: config };
}

/** The create body docker's CLI sends (Config + HostConfig + NetworkingConfig). */
export function buildCreateBody(o: RunOptions, image: string, cmd: string[]): Record<string, unknown> {
  const attach = !o.detach;
  const env = [...(o.envFile ?? []).flatMap(envFile), ...(o.env ?? []).map(envEntry)];
  const labels: Record<string, string> = {};
  for (const l of o.label ?? []) {
    const i = l.indexOf('=');
    labels[i >= 0 ? l.slice(0, i) : l] = i >= 0 ? l.slice(i + 1) : '';
  }
  const ports = parsePorts(o.publish ?? []);
  for (const e of o.expose ?? []) {
    const [p, proto = 'tcp'] = e.split('/');
    const [lo, hi] = portRange(p, 'range for exposed port');
    for (let i = lo; i <= hi; i++) ports.exposed[`${i}/${proto}`] = {};
  }
  const network = o.network ?? 'default';
  if (o.networkAlias?.length && (network === 'default' || network === 'bridge' || network === 'host' || network === 'none' || network.startsWith('container:'))) {
    throw new Error('network-scoped aliases are only supported for user-defined networks');
  }
  const mountParts = mountsFromFlags(o);
  const volumes = mountParts.volumes;
  let restart = { Name: 'no', MaximumRetryCount: 0 };
  if (o.restart && o.restart !== 'no') {
    const [name, count, ...extra] = o.restart.split(':');
    // docker's opts.ParseRestartPolicy wording.
    if (extra.length > 0) throw new Error(`invalid restart policy format: ${o.restart}`);
    if (count !== undefined && !/^-?\d+$/.test(count)) throw new Error('invalid restart policy format: maximum retry count must be an integer');
    restart = { Name: name, MaximumRetryCount: count ? Number(count) : 0 };
  }
  if (o.rm && restart.Name !== 'no') throw new Error('Conflicting options: --restart and --rm');
  const interactive = Boolean(o.interactive);
  const hostConfig: Record<string, unknown> = {
    ...mountParts.hostConfig,
    NetworkMode: network,
    PortBindings: ports.bindings,
    PublishAllPorts: Boolean(o.publishAll),
    Dns: o.dns ?? [],
    DnsOptions: o.dnsOption ?? [],
    DnsSearch: o.dnsSearch ?? [],
    ExtraHosts: o.addHost?.length ? o.addHost : null,
    RestartPolicy: restart,
    AutoRemove: Boolean(o.rm),
    ConsoleSize: [0, 0],
    LogConfig: logConfigFromOptions(o),
    ...limitsHostConfig(o),
  };
  const body: Record<string, unknown> = {
    Hostname: o.hostname ?? '',
    Domainname: '',
    User: o.user ?? '',
    AttachStdin: attach && interactive,
    AttachStdout: attach,
    AttachStderr: attach,
    ExposedPorts: Object.keys(ports.exposed).length ? ports.exposed : undefined,
    Tty: Boolean(o.tty),
    OpenStdin: interactive,
    StdinOnce: attach && interactive,
    Env: env.length ? env : null,
    Cmd: cmd.length ? cmd : null,
    Image: image,
    Volumes: volumes,
    WorkingDir: o.workdir ?? '',
    Entrypoint: o.entrypoint !== undefined ? [o.entrypoint] : null,
    OnBuild: null,
    Labels: labels,
    StopSignal: o.stopSignal,
    StopTimeout: o.stopTimeout,
    Healthcheck: healthcheckFromOptions(o),
    HostConfig: hostConfig,
    NetworkingConfig: { EndpointsConfig: o.networkAlias?.length ? { [network]: { Aliases: o.networkAlias } } : {} },
  };
  return body;
}

export async function createContainer(ctx: Context, client: ApiClient, o: RunOptions, body: Record<string, unknown>, image: string): Promise<string> {
  const ref = parseNormalizedNamed(image);
  const isId = /^(sha256:)?[0-9a-f]{64}$/.test(image);
  const named = isId ? undefined : { ...ref, tag: ref.digest ? ref.tag : (ref.tag ?? 'latest') };
  const query = { name: o.name, platform: o.platform };
  const pull = async () => {
    await pullImage(client, named!, { platform: o.platform, stream: o.quiet ? undefined : process.stderr });
  };
  if (o.pull === 'always' && named) await pull();
  try {
    const res = await client.json<{ Id: string; Warnings?: string[] }>('POST', '/containers/create', { query, body });
    for (const w of res.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
    return res.Id;
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404 || !named || (o.pull ?? 'missing') !== 'missing') throw err;
    if (!o.quiet) process.stderr.write(`Unable to find image '${refString(named, true)}' locally\n`);
    await pull();
    const res = await client.json<{ Id: string; Warnings?: string[] }>('POST', '/containers/create', { query, body });
    for (const w of res.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
    return res.Id;
  }
}

/** Wire the hijacked attach stream to our stdout/stderr (and stdin with -i). Resolves at its end. */
function pumpAttach(socket: Socket, head: Buffer, tty: boolean, interactive: boolean): Promise<void> {
  return pumpStream(socket, head, { tty, stdin: interactive });
}

interface WaitResult {
  StatusCode: number;
  Error?: { Message?: string } | null;
}

export default async function run(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  const o = opts as unknown as RunOptions;
  checkArgs(SPEC, args, 1);
  if (!['always', 'missing', 'never'].includes(o.pull ?? 'missing')) {
    throw runError(`invalid pull option: '${o.pull}': must be one of "always", "missing" or "never"`, 125);
  }
  const [image, ...containerCmd] = args;
  let body: Record<string, unknown>;
  try {
    body = buildCreateBody(o, image, containerCmd);
  } catch (err) {
    throw runError(errorText(err), 125);
  }
  if (!o.detach) {
    try {
      checkTtyInput(Boolean(o.tty), Boolean(o.interactive));
    } catch (err) {
      throw new StatusError(errorText(err), 1);
    }
  }
  if (o.tty) (body.HostConfig as Record<string, unknown>).ConsoleSize = consoleSize() ?? [0, 0];
  const client = ctx.client();
  let id: string;
  try {
    id = await createContainer(ctx, client, o, body, image);
  } catch (err) {
    throw runError(errorText(err), startErrorCode(errorText(err)));
  }

  if (o.detach) {
    process.stdout.write(`${id}\n`);
    try {
      await client.call('POST', `/containers/${id}/start`);
    } catch (err) {
      throw runError(errorText(err), startErrorCode(errorText(err)));
    }
    return 0;
  }

  const tty = Boolean(o.tty);
  const interactive = Boolean(o.interactive);
  // Attach and register the wait before starting, so no output and no exit can be missed. The
  // daemon sends the wait's headers once the waiter is in place.
  const [attached, waitRes] = await Promise.all([
    client.upgrade('POST', `/containers/${id}/attach`, { query: { stream: 1, stdin: interactive || undefined, stdout: 1, stderr: 1 } }),
    client.request('POST', `/containers/${id}/wait`, { query: { condition: o.rm ? 'removed' : 'next-exit' } }),
  ]).catch((err: unknown) => {
    throw runError(errorText(err), 125);
  });
  const restoreTerminal = rawTerminal(tty, interactive);
  const streamDone = pumpAttach(attached.socket, attached.head, tty, interactive);
  const waitBody = (async () => {
    const chunks: Buffer[] = [];
    for await (const c of waitRes as AsyncIterable<Buffer>) chunks.push(c);
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as WaitResult;
  })();
  waitBody.catch(() => {});

  // sig-proxy: signals to the CLI go to the container's process. Installed before the start, as
  // docker's CLI does: the process may print (and a caller react with a signal) before the start's
  // answer arrives, and an unhandled SIGTERM would end the CLI instead. A signal that arrives
  // before the start answered is sent once it has.
  let started: Promise<unknown> = Promise.resolve();
  if (o.sigProxy !== false && !tty) {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const) {
      process.on(sig, () => {
        void started.then(() => client.call('POST', `/containers/${id}/kill`, { query: { signal: sig } })).catch(() => {});
      });
    }
  }
  try {
    started = client.call('POST', `/containers/${id}/start`);
    await started;
  } catch (err) {
    restoreTerminal();
    attached.socket.destroy();
    if (o.rm) await Promise.race([waitBody.catch(() => undefined), new Promise((r) => setTimeout(r, 10_000).unref())]);
    throw runError(errorText(err), startErrorCode(errorText(err)));
  }

  const stopResize = tty ? monitorTtySize((h, w) => client.call('POST', `/containers/${id}/resize`, { query: { h, w } })) : () => undefined;
  // The detach keys (stdin only) end the stream while the container goes on running.
  const detached = interactive
    ? streamDone.then(async () => {
        const info = await client.json<{ State?: { Running?: boolean } }>('GET', `/containers/${id}/json`).catch(() => undefined);
        return info?.State?.Running ? ('detached' as const) : undefined;
      })
    : new Promise<undefined>(() => undefined);
  let result: WaitResult;
  try {
    const first = await Promise.race<WaitResult | 'detached'>([waitBody, detached.then((d): Promise<WaitResult | 'detached'> | 'detached' => d ?? waitBody)]);
    if (first === 'detached') {
      stopResize();
      restoreTerminal();
      return 0;
    }
    result = first;
  } catch (err) {
    throw new StatusError(errorText(err), 125);
  }
  // The daemon ends the attach stream once the run is over; give late output a bounded while.
  await Promise.race([streamDone, new Promise((r) => setTimeout(r, 10_000).unref())]);
  stopResize();
  restoreTerminal();
  if (result.Error?.Message) {
    process.stderr.write(`Error waiting for container: ${result.Error.Message}\n`);
    return 125;
  }
  return result.StatusCode ?? 0;
}
