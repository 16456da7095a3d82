// Address leases of bridge networks: one file per address, `<dir>/<network>/<a.b.c.d>`, created
// with O_EXCL so two starts can never take the same address, holding the owner's container ID on
// its first line (the layout of CNI's host-local plugin, which berth used before; leases it wrote
// are read the same way), then the container's interface and the host end of its veth pair.
// A lease outlives berthd with its container; the daemon's reconciliation drops the others.
import { mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../util/errors.js';
import { type Cidr, intToIp, ipToInt } from './model.js';

export interface Lease {
  network: string;
  ip: string;
  containerId: string;
  ifName: string;
  /** The host end of the veth pair (absent in leases host-local wrote). */
  hostIf?: string;
}

const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;

export class LeaseStore {
  /** Where the next search starts, per network: addresses are handed out round-robin, as host-local does. */
  private readonly cursor = new Map<string, number>();
  /** Leases taken or found by this process, by container: teardown needs no directory scan. */
  private readonly byContainer = new Map<string, Lease[]>();
  private readonly madeDirs = new Set<string>();

  constructor(readonly dir: string) {}

  /** A free address of `subnet` (not the network, broadcast or gateway address), leased to the container. */
  async allocate(network: string, subnet: Cidr, gateway: string | undefined, lease: Omit<Lease, 'ip' | 'network'>, networkName: string): Promise<string> {
    const netDir = join(this.dir, network);
    if (!this.madeDirs.has(netDir)) {
      await mkdir(netDir, { recursive: true });
      this.madeDirs.add(netDir);
    }
    const size = 2 ** (32 - subnet.prefix);
    const first = subnet.base + 1;
    const last = subnet.base + size - 2;
    const gw = gateway ? ipToInt(gateway) : -1;
    const count = last - first + 1;
    let candidate = this.cursor.get(network) ?? first;
    for (let i = 0; i < count; i++, candidate = candidate >= last ? first : candidate + 1) {
      if (candidate === gw || candidate < first || candidate > last) continue;
      const ip = intToIp(candidate);
      let fh;
      try {
        fh = await open(join(netDir, ip), 'wx', 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw err;
      }
      try {
        await fh.writeFile(`${lease.containerId}\r\n${lease.ifName}\r\n${lease.hostIf ?? ''}`);
      } finally {
        await fh.close();
      }
      this.cursor.set(network, candidate >= last ? first : candidate + 1);
      this.remember({ ...lease, network, ip });
      return ip;
    }
    throw new BerthError(`no available IPv4 addresses on this network's address pools: ${networkName}`, 500);
  }

  private remember(l: Lease): void {
    const list = this.byContainer.get(l.containerId) ?? [];
    list.push(l);
    this.byContainer.set(l.containerId, list);
  }

  /** Every lease on disk (reconciliation after a start); remembers them by container. */
  async scan(): Promise<Lease[]> {
    const out: Lease[] = [];
    this.byContainer.clear();
    for (const network of await readdir(this.dir).catch(() => [] as string[])) {
      for (const ip of await readdir(join(this.dir, network)).catch(() => [] as string[])) {
        if (!IPV4.test(ip)) continue;
        const lines = (await readFile(join(this.dir, network, ip), 'utf8').catch(() => '')).split(/\r?\n/);
        const l: Lease = { network, ip, containerId: lines[0]?.trim() ?? '', ifName: lines[1]?.trim() ?? '', hostIf: lines[2]?.trim() || undefined };
        out.push(l);
        this.remember(l);
      }
    }
    return out;
  }

  of(containerId: string, network?: string): Lease[] {
    return (this.byContainer.get(containerId) ?? []).filter((l) => network === undefined || l.network === network);
  }

  /** Gives a lease back; one another container holds now (a stale record) is left alone. */
  async release(l: Lease): Promise<void> {
    const file = join(this.dir, l.network, l.ip);
    const owner = (await readFile(file, 'utf8').catch(() => '')).split(/\r?\n/)[0].trim();
    if (owner === l.containerId) await unlink(file).catch(() => undefined);
    const rest = (this.byContainer.get(l.containerId) ?? []).filter((x) => !(x.network === l.network && x.ip === l.ip));
    if (rest.length > 0) this.byContainer.set(l.containerId, rest);
    else this.byContainer.delete(l.containerId);
  }

  async releaseAll(containerId: string, network?: string): Promise<Lease[]> {
    const leases = this.of(containerId, network);
    for (const l of leases) await this.release(l);
    return leases;
  }

  forgetNetwork(network: string): void {
    this.cursor.delete(network);
    this.madeDirs.delete(join(this.dir, network));
    for (const [id, list] of this.byContainer) {
      const rest = list.filter((l) => l.network !== network);
      if (rest.length > 0) this.byContainer.set(id, rest);
      else this.byContainer.delete(id);
    }
  }
}
