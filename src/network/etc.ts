// /etc/hosts, /etc/resolv.conf and /etc/hostname of a container, written as docker writes them.
import { readFile } from 'node:fs/promises';
import { InvalidParameterError } from '../util/errors.js';

export interface ResolvConfInput {
  /** --dns; when empty the host's servers (minus loopback ones) are used. */
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  /** The network's name server (user-defined networks): it becomes the only nameserver. */
  embeddedServer?: string;
}

export interface ParsedResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

export function parseResolvConf(text: string): ParsedResolvConf {
  const out: ParsedResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) out.nameservers.push(rest[0]);
    else if (key === 'search' || key === 'domain') out.search = rest;
    else if (key === 'options') out.options.push(...rest);
  }
  return out;
}

export async function hostResolvConf(path = '/etc/resolv.conf'): Promise<ParsedResolvConf | undefined> {
  try {
    return parseResolvConf(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

const isLoopback = (ns: string) => ns.startsWith('127.') || ns === '::1';

/** docker's defaults when the host has no usable name server. */
const FALLBACK_DNS = ['8.8.8.8', '8.8.4.4'];

export function resolvConfText(host: ParsedResolvConf | undefined, input: ResolvConfInput): string {
  const search = input.dnsSearch.length > 0 ? input.dnsSearch.filter((s) => s !== '.') : host?.search ?? [];
  const options = input.dnsOptions.length > 0 ? input.dnsOptions : host?.options ?? [];
  let servers: string[];
  let ext: string[] = [];
  if (input.embeddedServer) {
    servers = [input.embeddedServer];
    ext = input.dns.length > 0 ? input.dns : (host?.nameservers ?? []);
  } else if (input.dns.length > 0) {
    servers = input.dns;
  } else {
    servers = (host?.nameservers ?? []).filter((ns) => !isLoopback(ns));
    if (servers.length === 0) servers = FALLBACK_DNS;
  }
  const lines = servers.map((s) => `nameserver ${s}`);
  if (search.length > 0) lines.push(`search ${search.join(' ')}`);
  if (options.length > 0) lines.push(`options ${options.join(' ')}`);
  if (input.embeddedServer) {
    lines.push('', '# Based on host file: \'/etc/resolv.conf\' (internal resolver)');
    if (ext.length > 0) lines.push(`# ExtServers: [${ext.join(' ')}]`);
  }
  return lines.join('\n') + '\n';
}

/** --add-host "name:ip" (docker also takes "name=ip"); "host-gateway" is the default bridge's gateway. */
export function parseExtraHosts(entries: string[], hostGateway: string | undefined): Array<{ name: string; ip: string }> {
  return entries.map((e) => {
    const i = e.includes('=') ? e.indexOf('=') : e.indexOf(':');
    if (i <= 0) throw new InvalidParameterError(`invalid IP address in add-host: "${e}"`);
    const name = e.slice(0, i);
    let ip = e.slice(i + 1).replace(/^\[|\]$/g, '');
    if (ip === 'host-gateway') {
      if (!hostGateway) throw new InvalidParameterError('unable to derive the IP value for host-gateway');
      ip = hostGateway;
    }
    if (!/^[\d.]+$/.test(ip) && !ip.includes(':')) throw new InvalidParameterError(`invalid IP address in add-host: "${ip}"`);
    return { name, ip };
  });
}

export function hostsText(opts: { extraHosts: Array<{ name: string; ip: string }>; ip?: string; hostname: string; domainname?: string; aliases?: string[] }): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const h of opts.extraHosts) lines.push(`${h.ip}\t${h.name}`);
  if (opts.ip) {
    const names = opts.domainname ? [`${opts.hostname}.${opts.domainname}`, opts.hostname] : [opts.hostname];
    lines.push(`${opts.ip}\t${[...names, ...(opts.aliases ?? [])].join(' ')}`);
  }
  return lines.join('\n') + '\n';
}
