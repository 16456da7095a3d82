// Networks and the containers' place in them. Bridge networks are wired in-process (bridge-driver.ts:
// netlink through berth-sys.node, leases in leases.ts, iptables per bridge); published ports use
// CNI's portmap plugin. Without the native addon the whole CNI list (bridge + host-local, portmap,
// firewall) runs instead. berth keeps the records (SQLite), the per-network name servers, the
// isolation rules between bridges, and each container's /etc files.
//
// State that outlives berthd: leases under <data-root>/network/ipam, CNI results under
// <data-root>/network/cni-cache. After a restart every cached attachment whose container is not
// running is DELeted, and leases of containers that are not running are dropped.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerRecord } from '../containers/model.js';
import { execFileCollect } from '../runtime/exec.js';
import { createNetns, NETNS_DIR, removeNetns } from '../runtime/netns.js';
import { sysAddon } from '../runtime/sys.js';
import type { MetadataStore } from '../store/metadata.js';
import { BerthError, ConflictError, InvalidParameterError, NotFoundError } from '../util/errors.js';
import { logger } from '../util/log.js';
import { BridgeDriver, leaseNetwork } from './bridge-driver.js';
import { Cni, CNI_VERSION, type CniConfList, type CniPortMapping, type CniResult } from './cni.js';
import { NetworkDnsServer } from './dns.js';
import { hostResolvConf, hostsText, type ParsedResolvConf, parseExtraHosts, resolvConfText } from './etc.js';
import { isolateBridge, unisolateBridge } from './firewall.js';
import { LeaseStore } from './leases.js';
import {
  allocateSubnet,
  type Cidr,
  cidrContains,
  cidrOverlaps,
  cidrString,
  emptyEndpoint,
  type EndpointSettings,
  intToIp,
  ipToInt,
  type NetworkRecord,
  parseBip,
  parseCidr,
  type PortMap,
} from './model.js';
import { allocatePorts, portMap, PortInUseError, wantedPorts } from './ports.js';

const log = logger('network');

export interface NetworkConfig {
  dataRoot: string;
  /** Device of the default `bridge` network. */
  bridgeName: string;
  /** daemon.json `bip`: gateway address and prefix of the default bridge. */
  bip: string;
  /** daemon.json `default-address-pools`: where user networks' subnets come from. */
  addressPools: Array<{ base: string; size: number }>;
  cniPath?: string;
}

export const DEFAULT_BRIDGE = 'berth0';
export const DEFAULT_BIP = '10.199.0.1/16';
export const DEFAULT_POOLS = [{ base: '10.200.0.0/16', size: 24 }];

export interface ContainerAccess {
  list(): ContainerRecord[];
  find(idOrName: string): ContainerRecord | undefined;
}

export interface NetworkCreateRequest {
  Name?: string;
  Driver?: string;
  Internal?: boolean;
  Attachable?: boolean;
  EnableIPv6?: boolean;
  IPAM?: {
    Driver?: string;
    Config?: Array<{ Subnet?: string; Gateway?: string; IPRange?: string; AuxiliaryAddresses?: Record<string, string> | null }> | null;
    Options?: Record<string, string> | null;
  };
  Options?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

export interface EndpointRequest {
  Aliases?: string[] | null;
  IPAMConfig?: { IPv4Address?: string } | null;
}

/** What a start needs from the network side. */
export interface NetworkSetup {
  netnsPath?: string;
  hostNetwork: boolean;
  etc: { hostname: string; hosts: string; resolvConf: string };
  networks: Record<string, EndpointSettings>;
  ports: PortMap;
}

const BRIDGE_NAME_OPT = 'com.docker.network.bridge.name';

export function netnsName(containerId: string): string {
  return `berth-${containerId.slice(0, 12)}`;
}

/** The network's name in CNI lists and its lease directory. */
export const cniName = leaseNetwork;

export class NetworkManager {
  readonly cni: Cni;
  private readonly dns = new Map<string, NetworkDnsServer>();
  /** Bridges whose isolation rules were put in place by this process (a few iptables calls each). */
  private readonly isolated = new Set<string>();
  private readonly ipamDir: string;
  private readonly leases: LeaseStore;
  /** In-process bridge wiring; undefined without berth-sys.node (then CNI plugins do it all). */
  private readonly driver?: BridgeDriver;
  private hostResolv?: ParsedResolvConf;
  /** Serialises network create/remove (subnet and name choices). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly meta: MetadataStore,
    private readonly cfg: NetworkConfig,
    private readonly containers: ContainerAccess,
  ) {
    this.cni = new Cni(join(cfg.dataRoot, 'network', 'cni-cache'), cfg.cniPath);
    this.ipamDir = join(cfg.dataRoot, 'network', 'ipam');
    this.leases = new LeaseStore(this.ipamDir);
    const sys = sysAddon();
    if (sys && !process.env.BERTH_CNI_BRIDGE) this.driver = new BridgeDriver(this.leases, sys);
  }

  // --- records --------------------------------------------------------------------------------

  list(): NetworkRecord[] {
    return this.meta.listNetworks<NetworkRecord>();
  }

  find(idOrName: string): NetworkRecord | undefined {
    const all = this.list();
    return (
      all.find((n) => n.id === idOrName) ??
      all.find((n) => n.name === idOrName) ??
      (/^[a-f0-9]+$/.test(idOrName) ? all.filter((n) => n.id.startsWith(idOrName)).at(0) : undefined)
    );
  }

  get(idOrName: string): NetworkRecord {
    const n = this.find(idOrName);
    if (!n) throw new NotFoundError(`network ${idOrName} not found`);
    return n;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  async init(): Promise<void> {
    this.hostResolv = await hostResolvConf();
    this.ensurePredefined();
    await this.reconcile();
    for (const net of this.list()) {
      if (net.driver === 'bridge' && !net.predefined && this.hasBridge(net)) await this.ensureDns(net).catch(() => undefined);
    }
  }

  /** bridge, host and none; the default bridge follows the configured device and bip. */
  private ensurePredefined(): void {
    const { subnet, gateway } = parseBip(this.cfg.bip);
    const existing = new Map(this.list().map((n) => [n.name, n]));
    const want: NetworkRecord[] = [
      {
        id: existing.get('bridge')?.id ?? randomBytes(32).toString('hex'),
        name: 'bridge',
        driver: 'bridge',
        created: existing.get('bridge')?.created ?? new Date().toISOString(),
        internal: false,
        attachable: false,
        labels: {},
        options: {
          'com.docker.network.bridge.default_bridge': 'true',
          'com.docker.network.bridge.enable_icc': 'true',
          'com.docker.network.bridge.enable_ip_masquerade': 'true',
          'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
          [BRIDGE_NAME_OPT]: this.cfg.bridgeName,
          'com.docker.network.driver.mtu': '1500',
        },
        bridge: this.cfg.bridgeName,
        subnet,
        gateway,
        predefined: true,
      },
      ...(['host', 'none'] as const).map((name) => ({
        id: existing.get(name)?.id ?? randomBytes(32).toString('hex'),
        name,
        driver: name === 'host' ? ('host' as const) : ('null' as const),
        created: existing.get(name)?.created ?? new Date().toISOString(),
        internal: false,
        attachable: false,
        labels: {},
        options: {},
        predefined: true,
      })),
    ];
    this.meta.transaction(() => {
      for (const n of want) {
        const old = existing.get(n.name);
        if (old && JSON.stringify(old) === JSON.stringify(n)) continue;
        if (old) this.meta.deleteNetwork(old.id);
        this.meta.insertNetwork(n.id, n.name, n);
      }
    });
  }

  /** Undo attachments of containers that are not running, and drop leases nobody holds. */
  private async reconcile(): Promise<void> {
    const running = new Set(this.containers.list().filter((c) => c.state.Status === 'running' || c.state.Status === 'paused').map((c) => c.id));
    const entries = await this.cni.listCache();
    for (const e of entries) {
      if (running.has(e.containerId)) continue;
      log.info({ id: e.containerId, network: e.conflist.name }, 'releasing a stale network attachment');
      await this.cni.delEntry(e).catch((err) => log.warn({ err }, 'stale CNI DEL'));
      if (existsSync(join(NETNS_DIR, netnsName(e.containerId)))) await removeNetns(netnsName(e.containerId)).catch(() => undefined);
    }
    for (const lease of await this.leases.scan()) {
      if (!running.has(lease.containerId)) await this.leases.release(lease);
    }
  }

  private hasBridge(net: NetworkRecord): boolean {
    return !!net.bridge && existsSync(`/sys/class/net/${net.bridge}`);
  }

  private takenSubnets(): Cidr[] {
    return this.list().filter((n) => n.subnet).map((n) => parseCidr(n.subnet!));
  }

  /** Subnets routed on the host (docker0, eth0...) are avoided for automatic choices. */
  private async hostRoutes(): Promise<Cidr[]> {
    const r = await execFileCollect('ip', ['-4', '-o', 'route', 'show']);
    const out: Cidr[] = [];
    for (const line of r.stdout.split('\n')) {
      const dst = line.split(' ')[0];
      if (!dst || dst === 'default') continue;
      try {
        out.push(parseCidr(dst.includes('/') ? dst : `${dst}/32`));
      } catch {
        // not an IPv4 route
      }
    }
    return out;
  }

  create(req: NetworkCreateRequest): Promise<{ id: string; warning: string }> {
    return this.serial(async () => {
      const name = req.Name ?? '';
      if (!name) throw new InvalidParameterError('network name cannot be empty');
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new InvalidParameterError(`invalid network name "${name}"`);
      if (['host', 'none', 'bridge', 'default'].includes(name) && name !== 'default') {
        throw new BerthError(`${name} is a pre-defined network and cannot be created`, 403);
      }
      const driver = req.Driver || 'bridge';
      if (driver !== 'bridge') throw new NotFoundError(`plugin "${driver}" not found: berth supports the bridge driver only`);
      if (req.EnableIPv6) throw new InvalidParameterError('IPv6 networks are not supported by berth');
      if (this.find(name)?.name === name) throw new ConflictError(`network with name ${name} already exists`);
      if (req.IPAM?.Driver && req.IPAM.Driver !== 'default') throw new InvalidParameterError(`IPAM driver "${req.IPAM.Driver}" is not supported`);
      const configs = req.IPAM?.Config ?? [];
      if (configs.length > 1) throw new InvalidParameterError('berth supports one IPv4 subnet per network');
      if (configs[0]?.IPRange) throw new InvalidParameterError('berth does not support --ip-range: addresses come from the whole subnet');
      if (configs[0]?.AuxiliaryAddresses && Object.keys(configs[0].AuxiliaryAddresses).length > 0) {
        throw new InvalidParameterError('berth does not support --aux-address');
      }
      let subnet: string;
      let gateway: string;
      const taken = this.takenSubnets();
      if (configs[0]?.Subnet) {
        let c: Cidr;
        try {
          c = parseCidr(configs[0].Subnet);
        } catch {
          throw new InvalidParameterError(`invalid subnet ${configs[0].Subnet}: invalid CIDR address`);
        }
        if (c.prefix > 30) throw new InvalidParameterError(`invalid subnet ${configs[0].Subnet}: too small`);
        if (taken.some((t) => cidrOverlaps(t, c))) throw new BerthError('invalid pool request: Pool overlaps with other one on this address space', 403);
        subnet = cidrString(c);
        if (configs[0].Gateway) {
          let gw: number;
          try {
            gw = ipToInt(configs[0].Gateway);
          } catch {
            throw new InvalidParameterError(`invalid gateway address ${configs[0].Gateway}`);
          }
          if (!cidrContains(c, gw)) throw new InvalidParameterError(`no matching subnet for gateway ${configs[0].Gateway}`);
          gateway = configs[0].Gateway;
        } else {
          gateway = intToIp(c.base + 1);
        }
      } else {
        if (configs[0]?.Gateway) throw new InvalidParameterError('a gateway needs a subnet (--subnet)');
        const auto = allocateSubnet(this.cfg.addressPools, [...taken, ...(await this.hostRoutes())]);
        if (!auto) throw new BerthError('all predefined address pools have been fully subnetted', 400);
        subnet = auto;
        gateway = intToIp(parseCidr(auto).base + 1);
      }
      const id = randomBytes(32).toString('hex');
      const options = { ...(req.Options ?? {}) };
      const bridge = options[BRIDGE_NAME_OPT] || `br-${id.slice(0, 12)}`;
      if (bridge.length > 15) throw new InvalidParameterError(`bridge name ${bridge} is longer than 15 characters`);
      if (this.list().some((n) => n.bridge === bridge)) throw new ConflictError(`bridge ${bridge} is used by another network`);
      const record: NetworkRecord = {
        id,
        name,
        driver: 'bridge',
        created: new Date().toISOString(),
        internal: req.Internal ?? false,
        attachable: req.Attachable ?? false,
        labels: req.Labels ?? {},
        options,
        bridge,
        subnet,
        gateway,
        ipamOptions: req.IPAM?.Options ?? undefined,
      };
      try {
        this.meta.insertNetwork(id, name, record);
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new ConflictError(`network with name ${name} already exists`);
        throw err;
      }
      return { id, warning: '' };
    });
  }

  /** Containers whose record is attached to the network, and whether they are running. */
  private usersOf(net: NetworkRecord): ContainerRecord[] {
    return this.containers.list().filter((c) => c.networks && Object.values(c.networks).some((e) => e.NetworkID === net.id));
  }

  remove(idOrName: string): Promise<void> {
    return this.serial(async () => {
      const net = this.get(idOrName);
      if (net.predefined) throw new BerthError(`${net.name} is a pre-defined network and cannot be removed`, 403);
      const active = this.usersOf(net).filter((c) => c.state.Status === 'running' || c.state.Status === 'paused');
      if (active.length > 0) {
        throw new BerthError(`error while removing network: network ${net.name} id ${net.id} has active endpoints`, 403);
      }
      await this.destroyBridge(net);
      this.meta.deleteNetwork(net.id);
    });
  }

  /** The bridge device, its name server, its isolation rules and its lease directory. */
  private async destroyBridge(net: NetworkRecord): Promise<void> {
    this.dns.get(net.id)?.close();
    this.dns.delete(net.id);
    if (net.bridge) {
      this.isolated.delete(net.bridge);
      this.driver?.forget(net.bridge);
      await unisolateBridge(net.bridge, net.internal);
      if (existsSync(`/sys/class/net/${net.bridge}`)) await execFileCollect('ip', ['link', 'del', net.bridge]);
    }
    this.leases.forgetNetwork(cniName(net));
    await rm(join(this.ipamDir, cniName(net)), { recursive: true, force: true });
  }

  async prune(keep: (n: NetworkRecord) => boolean = () => true): Promise<string[]> {
    const removed: string[] = [];
    for (const net of this.list()) {
      if (net.predefined || !keep(net) || this.usersOf(net).length > 0) continue;
      try {
        await this.remove(net.id);
        removed.push(net.name);
      } catch (err) {
        log.warn({ err, network: net.name }, 'prune');
      }
    }
    return removed;
  }

  /** docker network inspect's Containers: running containers with an address on the network. */
  endpointsOf(net: NetworkRecord): Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }> {
    const out: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }> = {};
    for (const c of this.usersOf(net)) {
      if (c.state.Status !== 'running' && c.state.Status !== 'paused') continue;
      const ep = Object.values(c.networks ?? {}).find((e) => e.NetworkID === net.id)!;
      out[c.id] = {
        Name: c.name,
        EndpointID: ep.EndpointID,
        MacAddress: ep.MacAddress,
        IPv4Address: ep.IPAddress ? `${ep.IPAddress}/${ep.IPPrefixLen}` : '',
        IPv6Address: '',
      };
    }
    return out;
  }

  // --- containers -----------------------------------------------------------------------------

  /** The endpoints a new container asks for (HostConfig.NetworkMode + NetworkingConfig); validates. */
  endpointsForCreate(networkMode: string | undefined, endpointsConfig: Record<string, EndpointRequest | null> | undefined): Record<string, EndpointSettings> {
    const mode = !networkMode || networkMode === 'default' ? 'bridge' : networkMode;
    const requested: Record<string, EndpointRequest | null> = {};
    // The docker CLI names the default network "default" in EndpointsConfig too.
    for (const [k, v] of Object.entries(endpointsConfig ?? {})) requested[k === 'default' ? 'bridge' : k] = v;
    if (mode.startsWith('container:')) {
      const target = mode.slice('container:'.length);
      if (!target || !this.containers.find(target)) throw new NotFoundError(`No such container: ${target}`);
      if (Object.keys(requested).length > 0) throw new InvalidParameterError('conflicting options: container type network can\'t be used with links. This would result in undefined behavior');
      return {};
    }
    const primary = this.get(mode);
    const out: Record<string, EndpointSettings> = {};
    const add = (net: NetworkRecord, req: EndpointRequest | null | undefined) => {
      const aliases = req?.Aliases?.filter(Boolean) ?? [];
      if (aliases.length > 0 && (net.name === 'bridge' || net.driver !== 'bridge')) {
        throw new InvalidParameterError('network-scoped alias is supported only for containers in user defined networks');
      }
      const ep = emptyEndpoint(net.id, aliases.length > 0 ? aliases : null);
      if (req?.IPAMConfig?.IPv4Address) throw new InvalidParameterError('berth does not support --ip: addresses come from the network\'s pool');
      out[net.name] = ep;
    };
    add(primary, requested[primary.name] ?? requested[primary.id] ?? requested[mode]);
    for (const [key, req] of Object.entries(requested)) {
      const net = this.get(key);
      if (net.name in out) continue;
      if (net.driver !== 'bridge' || primary.driver !== 'bridge') {
        throw new InvalidParameterError(`container cannot be connected to network ${net.name} together with ${primary.name}`);
      }
      add(net, req);
    }
    return out;
  }

  /** Publish mappings of all running containers except `exceptId`. */
  private takenPorts(exceptId: string): CniPortMapping[] {
    const out: CniPortMapping[] = [];
    for (const c of this.containers.list()) {
      if (c.id === exceptId || (c.state.Status !== 'running' && c.state.Status !== 'paused')) continue;
      for (const [key, bindings] of Object.entries(c.ports ?? {})) {
        const [port, protocol] = key.split('/');
        for (const b of bindings ?? []) {
          out.push({ containerPort: Number(port), protocol: protocol as 'tcp' | 'udp', hostPort: Number(b.HostPort), hostIP: b.HostIp === '0.0.0.0' ? undefined : b.HostIp });
        }
      }
    }
    return out;
  }

  /** The plugin list of a bridge network; portmap only when ports are published (one spawn less). */
  private conflist(net: NetworkRecord, withPorts: boolean): CniConfList {
    return {
      cniVersion: CNI_VERSION,
      name: cniName(net),
      plugins: [
        {
          type: 'bridge',
          bridge: net.bridge,
          isGateway: true,
          ipMasq: !net.internal,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: this.ipamDir,
            ranges: [[{ subnet: net.subnet, gateway: net.gateway }]],
            routes: net.internal ? [] : [{ dst: '0.0.0.0/0' }],
          },
        },
        ...(withPorts ? [{ type: 'portmap', capabilities: { portMappings: true }, snat: true }] : []),
        { type: 'firewall', backend: 'iptables' },
      ],
    };
  }

  /** The default bridge's gateway: docker's "host-gateway". */
  private hostGateway(): string | undefined {
    return this.find('bridge')?.gateway;
  }

  private extraHosts(c: ContainerRecord): Array<{ name: string; ip: string }> {
    return parseExtraHosts((c.hostConfig.ExtraHosts as string[] | null | undefined) ?? [], this.hostGateway());
  }

  private resolvInput(c: ContainerRecord, embeddedServer?: string) {
    const list = (k: string) => ((c.hostConfig[k] as string[] | null | undefined) ?? []).filter(Boolean);
    return { dns: list('Dns'), dnsSearch: list('DnsSearch'), dnsOptions: list('DnsOptions'), embeddedServer };
  }

  /** Check bad input before anything is set up (create time). */
  validateHostConfig(c: Pick<ContainerRecord, 'hostConfig' | 'config'>): void {
    parseExtraHosts((c.hostConfig.ExtraHosts as string[] | null | undefined) ?? [], this.hostGateway() ?? '0.0.0.0');
    wantedPorts(c.hostConfig.PortBindings as PortMap | undefined, Boolean(c.hostConfig.PublishAllPorts), c.config.ExposedPorts);
  }

  /** Everything the container's network needs before runc creates it. Undoes itself on failure. */
  async setUp(c: ContainerRecord, containerDir: string): Promise<NetworkSetup> {
    const mode = !c.hostConfig.NetworkMode || c.hostConfig.NetworkMode === 'default' ? 'bridge' : c.hostConfig.NetworkMode;
    const paths = { hostname: join(containerDir, 'hostname'), hosts: join(containerDir, 'hosts'), resolvConf: join(containerDir, 'resolv.conf') };
    const hostname = c.config.Hostname || c.id.slice(0, 12);
    const extraHosts = this.extraHosts(c);
    if (mode === 'host') {
      const hostHosts = await readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n');
      await Promise.all([
        writeFile(paths.hostname, `${hostname}\n`),
        writeFile(paths.hosts, hostHosts + extraHosts.map((h) => `${h.ip}\t${h.name}\n`).join('')),
        this.writeResolv(paths.resolvConf, c),
      ]);
      return { hostNetwork: true, etc: paths, networks: c.networks ?? {}, ports: {} };
    }
    if (mode.startsWith('container:')) {
      const target = this.containers.find(mode.slice('container:'.length));
      if (!target) throw new NotFoundError(`No such container: ${mode.slice('container:'.length)}`);
      if (target.state.Status !== 'running' && target.state.Status !== 'paused') {
        throw new ConflictError(`cannot join network namespace of a non running container: container ${target.id} is ${target.state.Status}`);
      }
      const targetMode = target.hostConfig.NetworkMode ?? 'default';
      if (targetMode === 'host') return { hostNetwork: true, etc: { hostname: target.hostnamePath!, hosts: target.hostsPath!, resolvConf: target.resolvConfPath! }, networks: {}, ports: {} };
      if (targetMode.startsWith('container:')) throw new ConflictError('cannot join the network namespace of a container that shares another one');
      return {
        hostNetwork: false,
        netnsPath: join(NETNS_DIR, netnsName(target.id)),
        etc: { hostname: target.hostnamePath!, hosts: target.hostsPath!, resolvConf: target.resolvConfPath! },
        networks: {},
        ports: {},
      };
    }

    const networks: Record<string, EndpointSettings> = {};
    const attached = Object.entries(c.networks ?? {}).map(([name, ep]) => {
      const net = this.list().find((n) => n.id === ep.NetworkID);
      if (!net) throw new NotFoundError(`network ${name} not found`);
      return { net, ep };
    });
    const bridges = attached.filter((a) => a.net.driver === 'bridge');
    // Ports are checked before anything exists, so a clash leaves nothing half-made.
    const wanted = wantedPorts(c.hostConfig.PortBindings as PortMap | undefined, Boolean(c.hostConfig.PublishAllPorts), c.config.ExposedPorts);
    let mappings: CniPortMapping[] = [];
    if (bridges.length > 0 && wanted.length > 0) {
      try {
        mappings = await allocatePorts(wanted, this.takenPorts(c.id));
      } catch (err) {
        if (err instanceof PortInUseError) {
          throw new BerthError(`driver failed programming external connectivity on endpoint ${c.name} (${c.id.slice(0, 12)}): ${err.message}`, 500);
        }
        throw err;
      }
    }
    const nsPath = await createNetns(netnsName(c.id));
    try {
      let ifIndex = 0;
      for (const { net, ep } of attached) {
        if (net.driver !== 'bridge') {
          networks[net.name] = { ...ep, NetworkID: net.id };
          continue;
        }
        networks[net.name] = await this.attach(c, net, ep, nsPath, `eth${ifIndex}`, ifIndex === 0 ? mappings : [], ifIndex === 0);
        ifIndex++;
      }
      const primary = bridges.length > 0 ? networks[bridges[0].net.name] : undefined;
      const userNet = bridges.find((b) => !b.net.predefined)?.net;
      await Promise.all([
        writeFile(paths.hostname, `${hostname}\n`),
        writeFile(paths.hosts, hostsText({ extraHosts, ip: primary?.IPAddress, hostname, domainname: c.config.Domainname })),
        this.writeResolv(paths.resolvConf, c, userNet?.gateway),
      ]);
      return { hostNetwork: false, netnsPath: nsPath, etc: paths, networks, ports: portMap(mappings, c.config.ExposedPorts) };
    } catch (err) {
      await this.tearDown(c).catch(() => undefined);
      throw err;
    }
  }

  private async writeResolv(path: string, c: ContainerRecord, embedded?: string): Promise<void> {
    if (!embedded && !c.hostConfig.Dns && !c.hostConfig.DnsSearch && !c.hostConfig.DnsOptions && !this.hostResolv) {
      await copyFile('/etc/resolv.conf', path).catch(() => writeFile(path, ''));
      return;
    }
    await writeFile(path, resolvConfText(this.hostResolv, this.resolvInput(c, embedded)));
  }

  /** The container's interface on one bridge network (and its published ports); the endpoint as inspect shows it. */
  private async attach(c: ContainerRecord, net: NetworkRecord, ep: EndpointSettings, nsPath: string, ifName: string, ports: CniPortMapping[], primary: boolean): Promise<EndpointSettings> {
    const { ip, prefix, mac, gateway } = this.driver
      ? await this.attachInProcess(c, net, nsPath, ifName, ports, primary)
      : await this.attachByCni(c, net, nsPath, ifName, ports);
    if (!this.driver && !this.isolated.has(net.bridge!)) {
      await isolateBridge(net.bridge!, net.internal);
      this.isolated.add(net.bridge!);
    }
    if (!net.predefined) await this.ensureDns(net).catch((err) => log.warn({ err, network: net.name }, 'network name server did not start'));
    const aliases = ep.Aliases ?? [];
    return {
      ...ep,
      NetworkID: net.id,
      EndpointID: randomBytes(32).toString('hex'),
      Gateway: gateway ?? net.gateway ?? '',
      IPAddress: ip,
      IPPrefixLen: prefix,
      MacAddress: mac,
      DNSNames: net.predefined ? null : [c.name, ...aliases, c.id.slice(0, 12)],
    };
  }

  /** The veth pair and lease in-process; published ports by CNI's portmap, given the pair as its prevResult. */
  private async attachInProcess(c: ContainerRecord, net: NetworkRecord, nsPath: string, ifName: string, ports: CniPortMapping[], primary: boolean) {
    const a = await this.driver!.attach(net, c.id, nsPath, ifName, primary);
    if (ports.length > 0) {
      const prev: CniResult = {
        cniVersion: CNI_VERSION,
        interfaces: [{ name: a.hostIf }, { name: ifName, mac: a.mac, sandbox: nsPath }],
        ips: [{ address: `${a.ip}/${a.prefix}`, gateway: net.gateway, interface: 1 }],
      };
      const list: CniConfList = { cniVersion: CNI_VERSION, name: cniName(net), plugins: [{ type: 'portmap', capabilities: { portMappings: true }, snat: true }] };
      try {
        await this.cni.add(list, c.id, nsPath, ifName, { portMappings: ports }, prev);
      } catch (err) {
        await this.driver!.detach(c.id, net).catch(() => undefined);
        throw err;
      }
    }
    return { ip: a.ip, prefix: a.prefix, mac: a.mac, gateway: net.gateway };
  }

  /** The whole CNI list (without berth-sys.node). DEL runs the cached list, so a list without portmap is undone without it too. */
  private async attachByCni(c: ContainerRecord, net: NetworkRecord, nsPath: string, ifName: string, ports: CniPortMapping[]) {
    const result = await this.cni.add(this.conflist(net, ports.length > 0), c.id, nsPath, ifName, { portMappings: ports });
    const ipEntry = result.ips?.[0];
    const iface = ipEntry?.interface !== undefined ? result.interfaces?.[ipEntry.interface] : result.interfaces?.find((i) => i.sandbox);
    const [ip, prefix] = (ipEntry?.address ?? '/').split('/');
    return { ip, prefix: Number(prefix) || 0, mac: iface?.mac ?? '', gateway: ipEntry?.gateway };
  }

  /** Undo setUp: every cached CNI attachment of the container, its leases, then its netns (which takes its veths along). Idempotent. */
  async tearDown(c: ContainerRecord): Promise<void> {
    const mode = c.hostConfig.NetworkMode ?? 'default';
    const entries = (await this.cni.listCache()).filter((e) => e.containerId === c.id);
    for (const e of entries) {
      // One retry: a DEL can fail on a busy xtables lock; what still fails is retried at the next start.
      await this.cni
        .delEntry(e)
        .catch(() => new Promise((r) => setTimeout(r, 300)).then(() => this.cni.delEntry(e)))
        .catch((err) => log.warn({ err, id: c.id }, 'CNI DEL failed; kept for the next reconciliation'));
    }
    await this.leases.releaseAll(c.id);
    if (mode === 'host' || mode.startsWith('container:')) return;
    await removeNetns(netnsName(c.id));
  }

  /**
   * A build step's network: a namespace on the default bridge, as docker's classic builder gives
   * RUN. The lease is the step's; a daemon killed meanwhile drops it at reconciliation (its owner is
   * no running container).
   */
  async setUpBuildStep(id: string): Promise<{ netnsPath: string; release(): Promise<void> }> {
    const net = this.get('bridge');
    const name = netnsName(id);
    const nsPath = await createNetns(name);
    const release = async () => {
      await this.cni.del(id, cniName(net)).catch((err) => log.warn({ err, id }, 'build step CNI DEL'));
      await this.leases.releaseAll(id);
      await removeNetns(name);
    };
    try {
      if (this.driver) await this.driver.attach(net, id, nsPath, 'eth0', true);
      else await this.cni.add(this.conflist(net, false), id, nsPath, 'eth0', {});
    } catch (err) {
      await release().catch(() => undefined);
      throw err;
    }
    return { netnsPath: nsPath, release };
  }

  /** Connect a container (running or not); returns the endpoint to record. */
  async connect(c: ContainerRecord, net: NetworkRecord, req: EndpointRequest): Promise<EndpointSettings> {
    const mode = c.hostConfig.NetworkMode ?? 'default';
    if (net.driver !== 'bridge') throw new BerthError(`container cannot be disconnected from host network or connected to host network`, 403);
    if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
      throw new BerthError(`container sharing network namespace with another container or host cannot be connected to any other network`, 403);
    }
    if (c.networks?.[net.name]) throw new BerthError(`endpoint with name ${c.name} already exists in network ${net.name}`, 403);
    const aliases = req.Aliases?.filter(Boolean) ?? [];
    if (aliases.length > 0 && net.predefined) throw new InvalidParameterError('network-scoped alias is supported only for containers in user defined networks');
    const ep = emptyEndpoint(net.id, aliases.length > 0 ? aliases : null);
    if (c.state.Status !== 'running' && c.state.Status !== 'paused') return ep;
    const used = Object.keys(c.networks ?? {}).length;
    let ifName = `eth${used}`;
    const inUse = new Set([...(await this.cni.listCache()).filter((e) => e.containerId === c.id).map((e) => e.ifName), ...this.leases.of(c.id).map((l) => l.ifName)]);
    for (let i = 0; inUse.has(ifName); i++) ifName = `eth${i}`;
    return this.attach(c, net, ep, join(NETNS_DIR, netnsName(c.id)), ifName, [], inUse.size === 0);
  }

  async disconnect(c: ContainerRecord, net: NetworkRecord): Promise<void> {
    if (!c.networks?.[net.name]) throw new BerthError(`container ${c.id} is not connected to network ${net.name}`, 403);
    if (net.driver !== 'bridge') throw new BerthError('container cannot be disconnected from host network or connected to host network', 403);
    if (c.state.Status === 'running' || c.state.Status === 'paused') {
      await this.cni.del(c.id, cniName(net));
      await this.driver?.detach(c.id, net);
    }
  }

  // --- names ----------------------------------------------------------------------------------

  private async ensureDns(net: NetworkRecord): Promise<void> {
    if (this.dns.has(net.id) || !net.gateway) return;
    const server = new NetworkDnsServer(net.gateway, {
      lookup: (name, clientIp) => this.lookup(net.id, name, clientIp),
      upstreams: (clientIp) => this.upstreams(clientIp),
    });
    this.dns.set(net.id, server);
    try {
      await server.start();
    } catch (err) {
      this.dns.delete(net.id);
      throw err;
    }
  }

  private running(): ContainerRecord[] {
    return this.containers.list().filter((c) => c.state.Status === 'running' || c.state.Status === 'paused');
  }

  private clientOf(ip: string): ContainerRecord | undefined {
    return this.running().find((c) => Object.values(c.networks ?? {}).some((e) => e.IPAddress === ip));
  }

  /** Names on the network: container name, aliases, short ID, "name.network"; then the client's own hosts entries. */
  lookup(networkId: string, name: string, clientIp: string): string[] | undefined {
    const net = this.list().find((n) => n.id === networkId);
    const found: string[] = [];
    for (const c of this.running()) {
      const ep = Object.values(c.networks ?? {}).find((e) => e.NetworkID === networkId);
      if (!ep?.IPAddress) continue;
      const names = [c.name, ...(ep.Aliases ?? []), c.id.slice(0, 12)].map((n) => n.toLowerCase());
      if (names.includes(name) || (net && names.some((n) => `${n}.${net.name.toLowerCase()}` === name))) found.push(ep.IPAddress);
    }
    if (found.length > 0) return found;
    const client = this.clientOf(clientIp);
    if (client) {
      const hostname = (client.config.Hostname || client.id.slice(0, 12)).toLowerCase();
      if (name === hostname || name === 'localhost') return [name === 'localhost' ? '127.0.0.1' : clientIp];
      try {
        const extra = this.extraHosts(client).filter((h) => h.name.toLowerCase() === name && /^[\d.]+$/.test(h.ip));
        if (extra.length > 0) return extra.map((h) => h.ip);
      } catch {
        // unparsable entries were refused at create
      }
    }
    return undefined;
  }

  private upstreams(clientIp: string): string[] {
    const c = this.clientOf(clientIp);
    const dns = (c?.hostConfig.Dns as string[] | null | undefined)?.filter(Boolean) ?? [];
    if (dns.length > 0) return dns;
    return (this.hostResolv?.nameservers ?? []).filter((s) => /^[\d.]+$/.test(s));
  }

  close(): void {
    for (const s of this.dns.values()) s.close();
    this.dns.clear();
  }
}
