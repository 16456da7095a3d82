// Bridge networks in-process (berth-sys.node's netlink calls): the bridge device, one veth pair per
// container attachment, addresses from the lease store, and the bridge's iptables rules, made once
// per bridge. This replaces the CNI bridge, host-local and firewall plugins on the start path (3-4
// Go programs exec'd per container, 10-40 ms each here, plus as many again to tear down); published
// ports still go through CNI's portmap plugin (see NetworkManager.attach).
//
// The container's end of the pair lives in its network namespace, so removing the namespace
// removes the pair: teardown only gives the lease back. Disconnecting a running container deletes
// the host end by the name its lease recorded.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { BerthError } from '../util/errors.js';
import { ENODEV, type SysAddon, type SysError } from '../runtime/sys.js';
import { isolateBridge, routeBridge } from './firewall.js';
import type { LeaseStore } from './leases.js';
import { cidrString, type NetworkRecord, parseCidr } from './model.js';

export interface Attachment {
  ip: string;
  prefix: number;
  mac: string;
  hostIf: string;
}

/** docker's scheme: 02:42 and the four bytes of the IPv4 address. */
export function macForIp(ip: string): string {
  return ['02', '42', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

export function leaseNetwork(net: NetworkRecord): string {
  return `berth-${net.id.slice(0, 12)}`;
}

export class BridgeDriver {
  /** Bridges made ready (device, forwarding, rules) by this process. */
  private readonly ready = new Map<string, Promise<void>>();

  constructor(
    private readonly leases: LeaseStore,
    private readonly sys: SysAddon,
  ) {}

  private mtu(net: NetworkRecord): number {
    return Number(net.options['com.docker.network.driver.mtu']) || 1500;
  }

  ensureBridge(net: NetworkRecord): Promise<void> {
    const bridge = net.bridge!;
    let p = this.ready.get(bridge);
    if (!p) {
      p = (async () => {
        const subnet = parseCidr(net.subnet!);
        await this.sys.bridgeEnsureAsync(bridge, net.gateway!, subnet.prefix, this.mtu(net));
        if ((await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8').catch(() => '')).trim() !== '1') {
          await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
        }
        await isolateBridge(bridge, net.internal);
        await routeBridge(bridge, cidrString(subnet), net.internal);
      })();
      this.ready.set(bridge, p);
      p.catch(() => this.ready.delete(bridge));
    }
    return p;
  }

  forget(bridge: string): void {
    this.ready.delete(bridge);
  }

  /**
   * Leases an address and wires the container's interface `ifName` to the bridge. The default route
   * goes through the primary network's gateway only, as docker does (none on --internal networks).
   */
  async attach(net: NetworkRecord, containerId: string, nsPath: string, ifName: string, primary: boolean): Promise<Attachment> {
    await this.ensureBridge(net);
    const subnet = parseCidr(net.subnet!);
    const hostIf = `veth${randomBytes(4).toString('hex').slice(0, 7)}`;
    const ip = await this.leases.allocate(leaseNetwork(net), subnet, net.gateway, { containerId, ifName, hostIf }, net.name);
    const mac = macForIp(ip);
    const gateway = net.internal || !primary ? null : net.gateway!;
    try {
      try {
        await this.sys.vethAttachAsync(hostIf, net.bridge!, nsPath, ifName, mac, ip, subnet.prefix, gateway, this.mtu(net));
      } catch (err) {
        // The bridge went away under us (deleted by hand): make it again, once.
        if ((err as SysError).errno !== ENODEV) throw err;
        this.forget(net.bridge!);
        await this.ensureBridge(net);
        await this.sys.vethAttachAsync(hostIf, net.bridge!, nsPath, ifName, mac, ip, subnet.prefix, gateway, this.mtu(net));
      }
    } catch (err) {
      await this.sys.linkDeleteAsync(hostIf).catch(() => undefined);
      await this.leases.releaseAll(containerId, leaseNetwork(net));
      throw new BerthError(`failed to set up container networking on ${net.name}: ${(err as Error).message}`, 500, { cause: err });
    }
    return { ip, prefix: subnet.prefix, mac, hostIf };
  }

  /** A running container leaves the network: its veth pair goes, its lease is given back. */
  async detach(containerId: string, net: NetworkRecord): Promise<void> {
    for (const l of this.leases.of(containerId, leaseNetwork(net))) {
      if (l.hostIf) {
        await this.sys.linkDeleteAsync(l.hostIf).catch((err: SysError) => {
          if (err.errno !== ENODEV) throw err;
        });
      }
      await this.leases.release(l);
    }
  }
}
