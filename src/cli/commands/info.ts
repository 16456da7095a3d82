// berth info: docker's layout (prettyPrintServerInfo) for the fields berthd reports.
import { checkArgs, errorText, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { bytesSize } from '../format.js';

const SPEC: CommandSpec = {
  name: 'info',
  usage: '[OPTIONS]',
  description: 'Display system-wide information',
  flags: [{ long: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' }],
};

type Info = Record<string, any>;

export function renderServerInfo(info: Info, clientDebug = false): string {
  let o = '';
  const ln = (label: string, v: unknown) => (o += `${label} ${v === undefined || v === null ? '' : String(v)}\n`);
  const nonEmpty = (label: string, v: unknown) => {
    if (v !== undefined && v !== null && v !== '') ln(label, v);
  };
  ln(' Containers:', info.Containers ?? 0);
  ln('  Running:', info.ContainersRunning ?? 0);
  ln('  Paused:', info.ContainersPaused ?? 0);
  ln('  Stopped:', info.ContainersStopped ?? 0);
  ln(' Images:', info.Images ?? 0);
  nonEmpty(' Server Version:', info.ServerVersion);
  nonEmpty(' Storage Driver:', info.Driver);
  for (const [k, v] of (info.DriverStatus ?? []) as string[][]) o += `  ${k}: ${v}\n`;
  for (const [k, v] of (info.SystemStatus ?? []) as string[][]) o += ` ${k}: ${v}\n`;
  nonEmpty(' Logging Driver:', info.LoggingDriver);
  nonEmpty(' Cgroup Driver:', info.CgroupDriver);
  nonEmpty(' Cgroup Version:', info.CgroupVersion);
  const plugins = info.Plugins ?? {};
  o += ' Plugins:\n';
  ln('  Volume:', (plugins.Volume ?? []).join(' '));
  ln('  Network:', (plugins.Network ?? []).join(' '));
  if (plugins.Authorization?.length) ln('  Authorization:', plugins.Authorization.join(' '));
  ln('  Log:', (plugins.Log ?? []).join(' '));
  ln(' Swarm:', info.Swarm?.LocalNodeState ?? '');
  const runtimes = Object.keys(info.Runtimes ?? {});
  if (runtimes.length) {
    ln(' Runtimes:', runtimes.join(' '));
    ln(' Default Runtime:', info.DefaultRuntime);
  }
  if (info.OSType === 'linux') {
    ln(' Init Binary:', info.InitBinary ?? '');
    ln(' containerd version:', info.ContainerdCommit?.ID ?? '');
    ln(' runc version:', info.RuncCommit?.ID ?? '');
    ln(' init version:', info.InitCommit?.ID ?? '');
    const opts = (info.SecurityOptions ?? []) as string[];
    if (opts.length) {
      o += ' Security Options:\n';
      for (const so of opts) {
        const kv = Object.fromEntries(so.split(',').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
        o += `  ${kv.name ?? so}\n`;
        if (kv.profile) o += `   Profile: ${kv.profile}\n`;
      }
    }
  }
  nonEmpty(' Kernel Version:', info.KernelVersion);
  nonEmpty(' Operating System:', info.OperatingSystem);
  nonEmpty(' OSType:', info.OSType);
  nonEmpty(' Architecture:', info.Architecture);
  ln(' CPUs:', info.NCPU ?? 0);
  ln(' Total Memory:', bytesSize(info.MemTotal ?? 0));
  nonEmpty(' Name:', info.Name);
  nonEmpty(' ID:', info.ID);
  ln(' Docker Root Dir:', info.DockerRootDir ?? '');
  ln(' Debug Mode:', Boolean(info.Debug));
  if (info.Debug || clientDebug) {
    ln('  File Descriptors:', info.NFd);
    ln('  Goroutines:', info.NGoroutines);
    ln('  System Time:', info.SystemTime);
    ln('  EventsListeners:', info.NEventsListener);
  }
  nonEmpty(' HTTP Proxy:', info.HttpProxy);
  nonEmpty(' HTTPS Proxy:', info.HttpsProxy);
  nonEmpty(' No Proxy:', info.NoProxy);
  if (info.Labels?.length) {
    o += ' Labels:\n';
    for (const l of info.Labels) o += `  ${l}\n`;
  }
  ln(' Experimental:', Boolean(info.ExperimentalBuild));
  const reg = info.RegistryConfig;
  const indexConfigs = (reg?.IndexConfigs ?? {}) as Record<string, { Name: string; Secure: boolean }>;
  if (reg && ((reg.InsecureRegistryCIDRs ?? []).length || Object.keys(indexConfigs).length)) {
    o += ' Insecure Registries:\n';
    for (const k of Object.keys(indexConfigs).sort()) if (!indexConfigs[k].Secure) o += `  ${indexConfigs[k].Name}\n`;
    for (const c of reg.InsecureRegistryCIDRs ?? []) o += `  ${c}\n`;
  }
  if (reg?.Mirrors?.length) {
    o += ' Registry Mirrors:\n';
    for (const m of reg.Mirrors) o += `  ${m}\n`;
  }
  ln(' Live Restore Enabled:', Boolean(info.LiveRestoreEnabled));
  if (info.DefaultAddressPools?.length) {
    o += ' Default Address Pools:\n';
    for (const p of info.DefaultAddressPools) o += `   Base: ${p.Base}, Size: ${p.Size}\n`;
  }
  o += '\n';
  return o;
}

export default async function info(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 0, 0);
  let data: Info;
  try {
    data = await ctx.client().json<Info>('GET', '/info');
  } catch (err) {
    throw new StatusError(errorText(err), 1);
  }
  if (opts.format) {
    const { execTemplate } = await import('../template.js');
    process.stdout.write(execTemplate(opts.format as string, data) + '\n');
    return 0;
  }
  let out = 'Client:\n';
  out += ` Version:    0.1.0\n Context:    default\n Debug Mode: ${ctx.debug}\n\nServer:\n`;
  out += renderServerInfo(data, ctx.debug);
  process.stdout.write(out);
  for (const w of data.Warnings ?? []) process.stderr.write(`${w}\n`);
  return 0;
}
