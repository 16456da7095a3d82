// Wiring: one object that owns every part, built once at start-up.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { registerBuildRoutes } from '../api/build.js';
import { registerContainerRoutes } from '../api/containers.js';
import { resolveRuntimes, type RuntimeSet } from '../runtime/runtimes.js';
import { registerEventRoutes } from '../api/events.js';
import { registerLifecycleRoutes } from '../api/lifecycle.js';
import { EventBus } from '../events/bus.js';
import { registerExecRoutes } from '../api/exec.js';
import { Builder } from '../build/executor.js';
import { registerImageRoutes } from '../api/images.js';
import { registerAuthRoutes } from '../api/auth.js';
import { registerPushRoutes } from '../api/push.js';
import { registerImageIoRoutes } from '../api/images-io.js';
import { registerArchiveRoutes } from '../api/archive.js';
import { registerPruneFallbacks, registerSystemDfRoutes } from '../api/system-df.js';
import { registerNetworkRoutes } from '../api/networks.js';
import { registerVolumeRoutes } from '../api/volumes.js';
import { VolumeStore } from '../volumes/store.js';
import { Router } from '../api/router.js';
import { listen } from '../api/server.js';
import { registerStatsRoutes } from '../api/stats.js';
import { registerSystemRoutes } from '../api/system.js';
import { ExecManager } from '../containers/exec.js';
import { emitContainerEvent } from '../containers/events.js';
import { HealthMonitor } from '../containers/health.js';
import { LogRotationMonitor } from '../containers/log-rotation.js';
import { ContainerManager } from '../containers/manager.js';
import { NetworkManager } from '../network/manager.js';
import { PullService } from '../images/pull-service.js';
import { PushService } from '../images/push-service.js';
import { SnapshotStore } from '../images/snapshots.js';
import { ImageStore } from '../images/store.js';
import { createRegistryClient, type HttpRegistryClient } from '../registry/client.js';
import { ContentStore } from '../store/content.js';
import { MetadataStore } from '../store/metadata.js';
import { lookPath } from '../runtime/exec.js';
import { logger } from '../util/log.js';
import type { DaemonConfig } from './config.js';
import { MemoryTrimmer } from './memory-trim.js';

const log = logger('daemon');

export class Daemon {
  readonly id: string;
  readonly meta: MetadataStore;
  readonly content: ContentStore;
  readonly snapshots: SnapshotStore;
  readonly images: ImageStore;
  readonly pulls: PullService;
  readonly pushes: PushService;
  readonly registry: HttpRegistryClient;
  readonly containers: ContainerManager;
  readonly execs: ExecManager;
  /** Healthchecks; emits `health_status` (id, status) when a container's health changes. */
  readonly health: HealthMonitor;
  /** Rotates running containers' logs at max-size. */
  readonly logRotation: LogRotationMonitor;
  readonly builder: Builder;
  readonly networks: NetworkManager;
  readonly volumes: VolumeStore;
  readonly cgroupVersion: '1' | '2';
  readonly runtimes: RuntimeSet;
  /** Everything that happens, for GET /events; other parts emit through it. */
  readonly events = new EventBus();
  private servers: Server[] = [];
  private readonly memoryTrim = new MemoryTrimmer();

  private constructor(readonly config: DaemonConfig) {
    mkdirSync(config.dataRoot, { recursive: true, mode: 0o711 });
    mkdirSync(config.execRoot, { recursive: true, mode: 0o700 });
    this.id = daemonId(config.dataRoot);
    this.meta = new MetadataStore(join(config.dataRoot, 'metadata.db'));
    this.content = new ContentStore(config.dataRoot);
    this.snapshots = new SnapshotStore(config.dataRoot);
    this.images = new ImageStore(this.meta, this.content, this.snapshots);
    this.runtimes = resolveRuntimes(config.runtimes, config.defaultRuntime);
    const registry = createRegistryClient({
      mirrors: config.registryMirrors,
      insecureRegistries: config.insecureRegistries,
      certsDir: config.certsDir,
    });
    this.registry = registry;
    this.pulls = new PullService({ registry, content: this.content, snapshots: this.snapshots, images: this.images });
    this.pushes = new PushService({ registry, content: this.content, images: this.images, meta: this.meta });
    this.containers = new ContainerManager(
      this.meta,
      this.images,
      this.snapshots,
      { dataRoot: config.dataRoot, execRoot: config.execRoot },
      { runtimes: this.runtimes, conmonPath: config.conmonPath, logDefaults: config.logConfig },
      this.events,
    );
    this.execs = new ExecManager(this.containers, this.containers.runtime, { dataRoot: config.dataRoot, execRoot: config.execRoot }, this.containers.runtime.conmonPath);
    this.health = new HealthMonitor(this.containers, this.execs);
    this.logRotation = new LogRotationMonitor(this.containers);
    // docker's `health_status: healthy|unhealthy|starting` container event on each change.
    this.health.on('health_status', (id: string, status: string) => {
      const c = this.containers.list().find((r) => r.id === id);
      if (c) emitContainerEvent(this.events, c, `health_status: ${status}`);
    });
    this.builder = new Builder({
      content: this.content,
      snapshots: this.snapshots,
      images: this.images,
      pulls: this.pulls,
      dataRoot: config.dataRoot,
      execRoot: config.execRoot,
      // RUN steps run under the containers' default runtime (`<runtime> run`, see build/executor.ts).
      runtime: this.runtimes.runtimes.get(this.runtimes.defaultRuntime)!,
      stepNetwork: (id) => this.networks.setUpBuildStep(id),
    });
    this.networks = new NetworkManager(
      this.meta,
      { dataRoot: config.dataRoot, bridgeName: config.bridge, bip: config.bip, addressPools: config.defaultAddressPools },
      { list: () => this.containers.list(), find: (idOrName) => this.containers.find(idOrName) },
    );
    this.containers.setNetworking(this.networks);
    this.volumes = new VolumeStore(this.meta, config.dataRoot, this.events);
    this.containers.setVolumes(this.volumes);
    this.cgroupVersion = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
  }

  static async start(config: DaemonConfig): Promise<Daemon> {
    const daemon = new Daemon(config);
    await daemon.content.init?.();
    await daemon.snapshots.init?.();
    await daemon.containers.init();
    daemon.health.init();
    daemon.logRotation.init();
    await daemon.builder.init();
    await daemon.networks.init();
    daemon.containers.restartAtBoot();
    const router = new Router(logger('api'));
    registerSystemRoutes(router, daemon);
    registerPushRoutes(router, daemon);
    registerImageRoutes(router, daemon);
    registerAuthRoutes(router, daemon);
    registerContainerRoutes(router, daemon);
    registerLifecycleRoutes(router, daemon);
    registerEventRoutes(router, daemon);
    registerStatsRoutes(router, daemon);
    registerExecRoutes(router, daemon);
    registerBuildRoutes(router, daemon.builder);
    registerImageIoRoutes(router, daemon);
    registerArchiveRoutes(router, daemon);
    registerSystemDfRoutes(router, daemon);
    registerNetworkRoutes(router, daemon);
    registerVolumeRoutes(router, daemon);
    // Stand-ins for prune routes of parts berth lacks; registered last so real routes win.
    registerPruneFallbacks(router);
    for (const host of config.hosts) {
      daemon.servers.push(await listen(router, host, daemon.memoryTrim.noteActivity));
      log.info({ host }, 'API listening');
    }
    return daemon;
  }

  async stop(): Promise<void> {
    this.memoryTrim.stop();
    this.health.close();
    this.logRotation.close();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    })));
    // Closing the connections cancelled every build: let each kill its RUN step and release the
    // step's network before the network manager and the metadata close.
    await this.builder.drain(BUILD_DRAIN_MS);
    // Nothing restarts while the daemon goes down; stops now are not the user's.
    this.containers.shuttingDown = true;
    this.containers.restarts.cancelAll();
    if (!this.config.liveRestore) {
      await Promise.all(
        this.containers
          .list()
          .filter((c) => c.state.Status === 'running' || c.state.Status === 'paused')
          .map((c) => this.containers.stop(c.id).catch((err) => log.warn({ err, id: c.id }, 'stop failed'))),
      );
    }
    this.networks.close();
    this.meta.close();
  }
}

/** How long shutdown waits for cancelled builds to clean up (a RUN's kill and delete take ~50 ms). */
const BUILD_DRAIN_MS = 5_000;

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
