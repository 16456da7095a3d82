// Wiring: one object that owns every part, built once at start-up.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { registerContainerRoutes } from '../api/containers.js';
import { registerImageRoutes } from '../api/images.js';
import { registerNetworkRoutes } from '../api/networks.js';
import { Router } from '../api/router.js';
import { listen } from '../api/server.js';
import { registerSystemRoutes } from '../api/system.js';
import { ContainerManager } from '../containers/manager.js';
import { NetworkManager } from '../network/manager.js';
import { PullService } from '../images/pull-service.js';
import { SnapshotStore } from '../images/snapshots.js';
import { ImageStore } from '../images/store.js';
import { createRegistryClient } from '../registry/client.js';
import { ContentStore } from '../store/content.js';
import { MetadataStore } from '../store/metadata.js';
import { logger } from '../util/log.js';
import type { DaemonConfig } from './config.js';

const log = logger('daemon');

export class Daemon {
  readonly id: string;
  readonly meta: MetadataStore;
  readonly content: ContentStore;
  readonly snapshots: SnapshotStore;
  readonly images: ImageStore;
  readonly pulls: PullService;
  readonly containers: ContainerManager;
  readonly networks: NetworkManager;
  readonly cgroupVersion: '1' | '2';
  private servers: Server[] = [];

  private constructor(readonly config: DaemonConfig) {
    mkdirSync(config.dataRoot, { recursive: true, mode: 0o711 });
    mkdirSync(config.execRoot, { recursive: true, mode: 0o700 });
    this.id = daemonId(config.dataRoot);
    this.meta = new MetadataStore(join(config.dataRoot, 'metadata.db'));
    this.content = new ContentStore(config.dataRoot);
    this.snapshots = new SnapshotStore(config.dataRoot);
    this.images = new ImageStore(this.meta, this.content, this.snapshots);
    const registry = createRegistryClient({ mirrors: config.registryMirrors, insecureRegistries: config.insecureRegistries });
    this.pulls = new PullService({ registry, content: this.content, snapshots: this.snapshots, images: this.images });
    this.containers = new ContainerManager(
      this.meta,
      this.images,
      this.snapshots,
      { dataRoot: config.dataRoot, execRoot: config.execRoot },
      { runcPath: config.runtimePath, conmonPath: config.conmonPath },
    );
    this.networks = new NetworkManager(
      this.meta,
      { dataRoot: config.dataRoot, bridgeName: config.bridge, bip: config.bip, addressPools: config.defaultAddressPools },
      { list: () => this.containers.list(), find: (idOrName) => this.containers.find(idOrName) },
    );
    this.containers.setNetworking(this.networks);
    this.cgroupVersion = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
  }

  static async start(config: DaemonConfig): Promise<Daemon> {
    const daemon = new Daemon(config);
    await daemon.content.init?.();
    await daemon.snapshots.init?.();
    await daemon.containers.init();
    await daemon.networks.init();
    const router = new Router(logger('api'));
    registerSystemRoutes(router, daemon);
    registerImageRoutes(router, daemon);
    registerContainerRoutes(router, daemon);
    registerNetworkRoutes(router, daemon);
    for (const host of config.hosts) {
      daemon.servers.push(await listen(router, host));
      log.info({ host }, 'API listening');
    }
    return daemon;
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    })));
    if (!this.config.liveRestore) {
      for (const c of this.containers.list()) {
        if (c.state.Status === 'running') await this.containers.stop(c.id).catch((err) => log.warn({ err, id: c.id }, 'stop failed'));
      }
    }
    this.networks.close();
    this.meta.close();
  }
}

/** A stable engine ID per data root, as dockerd keeps one. */
function daemonId(dataRoot: string): string {
  const path = join(dataRoot, 'engine-id');
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    const id = randomUUID();
    writeFileSync(path, id + '\n');
    return id;
  }
}
