// Network records (docker's vocabulary) and IPv4 subnet arithmetic.
import { InvalidParameterError } from '../util/errors.js';

export interface NetworkRecord {
  id: string;
  name: string;
  /** bridge for berth's bridges; host and null for the predefined `host` and `none`. */
  driver: 'bridge' | 'host' | 'null';
  created: string;
  internal: boolean;
  attachable: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** Bridge networks: the Linux bridge device, subnet (CIDR) and gateway address. */
  bridge?: string;
  subnet?: string;
  gateway?: string;
  ipamOptions?: Record<string, string>;
  /** Set for the networks berth makes itself (bridge, host, none): they cannot be removed. */
  predefined?: boolean;
}

/** docker's EndpointSettings, as kept on the container record per network name. */
export interface EndpointSettings {
  IPAMConfig: { IPv4Address?: string } | null;
  Links: string[] | null;
  Aliases: string[] | null;
  MacAddress: string;
  DriverOpts: Record<string, string> | null;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  DNSNames: string[] | null;
}

export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

export type PortMap = Record<string, PortBinding[] | null>;

export function emptyEndpoint(networkId: string, aliases: string[] | null = null): EndpointSettings {
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: aliases,
    MacAddress: '',
    DriverOpts: null,
    NetworkID: networkId,
    EndpointID: '',
    Gateway: '',
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    DNSNames: null,
  };
}

// --- IPv4 ----------------------------------------------------------------------------------------

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    throw new InvalidParameterError(`invalid IP address: ${ip}`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export interface Cidr {
  /** Network address as an integer. */
  base: number;
  prefix: number;
}

/** Parses "a.b.c.d/n"; the host bits are cleared (docker reports the network address). */
export function parseCidr(s: string): Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m || Number(m[2]) > 32) throw new InvalidParameterError(`invalid CIDR address: ${s}`);
  const prefix = Number(m[2]);
  const size = 2 ** (32 - prefix);
  return { base: Math.floor(ipToInt(m[1]) / size) * size, prefix };
}

export function cidrString(c: Cidr): string {
  return `${intToIp(c.base)}/${c.prefix}`;
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ip >= c.base && ip < c.base + cidrSize(c);
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + cidrSize(b) && b.base < a.base + cidrSize(a);
}

/** docker's bip: "10.199.0.1/16" is the gateway address and the subnet's prefix. */
export function parseBip(bip: string): { subnet: string; gateway: string } {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(bip.trim());
  if (!m) throw new InvalidParameterError(`invalid bip: ${bip}`);
  const c = parseCidr(bip);
  const gw = ipToInt(m[1]);
  if (gw === c.base) return { subnet: cidrString(c), gateway: intToIp(c.base + 1) };
  return { subnet: cidrString(c), gateway: m[1] };
}

/** Carve the first free subnet of `size` bits out of the pools, avoiding every taken range. */
export function allocateSubnet(pools: Array<{ base: string; size: number }>, taken: Cidr[]): string | undefined {
  for (const pool of pools) {
    const p = parseCidr(pool.base);
    if (pool.size < p.prefix || pool.size > 30) continue;
    const step = 2 ** (32 - pool.size);
    for (let base = p.base; base < p.base + cidrSize(p); base += step) {
      const cand = { base, prefix: pool.size };
      if (!taken.some((t) => cidrOverlaps(t, cand))) return cidrString(cand);
    }
  }
  return undefined;
}
