// GET /_ping, /version, /info.
import { hostname, cpus, totalmem, release, arch } from 'node:os';
import { readFileSync } from 'node:fs';
import type { Daemon } from '../daemon/daemon.js';
import type { Router } from './router.js';
import { API_VERSION, type ApiContext, commonHeaders, MIN_API_VERSION, sendJson } from './http.js';

export const BERTH_VERSION = '0.1.0';

function ping(ctx: ApiContext): void {
  const headers = {
    ...commonHeaders(),
    'Builder-Version': '1',
    'Cache-Control': 'no-cache, no-store, must-revalidate',
    Pragma: 'no-cache',
    'Content-Type': 'text/plain; charset=utf-8',
  };
  if (ctx.res) {
    ctx.res.writeHead(200, { ...headers, 'Content-Length': 2 });
    ctx.res.end(ctx.req.method === 'HEAD' ? undefined : 'OK');
  }
}

function goArch(): string {
  return arch() === 'x64' ? 'amd64' : arch();
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

export function registerSystemRoutes(router: Router, daemon: Daemon): void {
  router.add('GET', '/_ping', ping);
  router.add('HEAD', '/_ping', ping);

  router.add('GET', '/version', (ctx) => {
    const details = {
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: 'berth',
      GoVersion: `node${process.versions.node}`,
      Os: 'linux',
      Arch: goArch(),
      KernelVersion: release(),
      BuildTime: '',
    };
    sendJson(ctx, 200, {
      Platform: { Name: 'berth' },
      Components: [{ Name: 'Engine', Version: BERTH_VERSION, Details: details }],
      Version: BERTH_VERSION,
      ...details,
    });
  });

  router.add('GET', '/info', (ctx) => {
    const containers = daemon.containers.list();
    const count = (s: string) => containers.filter((c) => c.state.Status === s).length;
    const cfg = daemon.config;
    sendJson(ctx, 200, {
      ID: daemon.id,
      Containers: containers.length,
      ContainersRunning: count('running'),
      ContainersPaused: count('paused'),
      ContainersStopped: containers.length - count('running') - count('paused'),
      Images: daemon.images.list().length,
      Driver: 'overlay2',
      DriverStatus: [['Backing Filesystem', 'extfs'], ['Supports d_type', 'true']],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['json-file', 'k8s-file', 'none'] },
      MemoryLimit: true,
      SwapLimit: false,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      IPv4Forwarding: true,
      Debug: cfg.logLevel === 'debug' || cfg.logLevel === 'trace',
      NFd: 0,
      OomKillDisable: false,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: cfg.logConfig.Type,
      CgroupDriver: 'cgroupfs',
      CgroupVersion: daemon.cgroupVersion,
      NEventsListener: 0,
      KernelVersion: release(),
      OperatingSystem: osName(),
      OSVersion: '',
      OSType: 'linux',
      Architecture: arch() === 'x64' ? 'x86_64' : arch(),
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: {
        AllowNondistributableArtifactsCIDRs: null,
        AllowNondistributableArtifactsHostnames: null,
        // As dockerd: CIDR entries of insecure-registries here, host names as IndexConfigs.
        InsecureRegistryCIDRs: ['127.0.0.0/8', ...cfg.insecureRegistries.filter((r) => r.includes('/'))],
        IndexConfigs: Object.fromEntries(
          [
            ['docker.io', { Name: 'docker.io', Mirrors: cfg.registryMirrors, Secure: true, Official: true }],
            ...cfg.insecureRegistries
              .filter((r) => !r.includes('/'))
              .map((r) => [r, { Name: r, Mirrors: [], Secure: false, Official: false }]),
          ],
        ),
        Mirrors: cfg.registryMirrors,
      },
      NCPU: cpus().length,
      MemTotal: totalmem(),
      DockerRootDir: cfg.dataRoot,
      HttpProxy: '',
      HttpsProxy: '',
      NoProxy: '',
      Name: hostname(),
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: BERTH_VERSION,
      Runtimes: Object.fromEntries(
        [...daemon.runtimes.runtimes.values()].map((r) => [r.name, r.runtimeArgs.length > 0 ? { path: r.path, runtimeArgs: r.runtimeArgs } : { path: r.path }]),
      ),
      DefaultRuntime: daemon.runtimes.defaultRuntime,
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: cfg.liveRestore,
      Isolation: '',
      InitBinary: '',
      ContainerdCommit: { ID: '', Expected: '' },
      RuncCommit: { ID: '', Expected: '' },
      InitCommit: { ID: '', Expected: '' },
      SecurityOptions: ['name=seccomp,profile=builtin'],
      Warnings: [],
    });
  });
}
