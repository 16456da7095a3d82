// docker's JSON shapes for GET /containers/json and GET /containers/{id}/json.
import { BUILTIN_LOG_CONFIG } from './log-config.js';
import { inspectMounts } from '../volumes/container-mounts.js';
import { humanDuration } from '../util/human.js';
import { LIMIT_DEFAULTS } from './create-options.js';
import type { ContainerRecord } from './model.js';
import { networkSettings, portList } from '../network/inspect.js';

export function statusText(c: ContainerRecord, now = Date.now()): string {
  const s = c.state;
  switch (s.Status) {
    case 'running':
      // docker: "Up 3 seconds (healthy)", "(health: starting)" while the first checks run.
      if (s.Health) return `Up ${humanDuration(now - Date.parse(s.StartedAt))} (${s.Health.Status === 'starting' ? 'health: starting' : s.Health.Status})`;
      return `Up ${humanDuration(now - Date.parse(s.StartedAt))}`;
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(s.StartedAt))} (Paused)`;
    case 'restarting':
      return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    case 'exited':
      return `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    default:
      return 'Created';
  }
}

/** dockerd's Command column: arguments containing a space are wrapped in single quotes. */
function command(c: ContainerRecord): string {
  return [c.path, ...c.args.map((a) => (a.includes(' ') ? `'${a}'` : a))].join(' ');
}

export function containerSummary(c: ContainerRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: c.image,
    ImageID: c.imageId,
    Command: command(c),
    Created: Math.floor(Date.parse(c.created) / 1000),
    Ports: portList(c),
    Labels: c.config.Labels ?? {},
    State: c.state.Status,
    Status: statusText(c),
    HostConfig: { NetworkMode: c.hostConfig.NetworkMode ?? 'default' },
    NetworkSettings: { Networks: networkSettings(c).Networks },
    Mounts: inspectMounts(c.mounts),
  };
  return out;
}

export function containerInspect(c: ContainerRecord, paths: { dataRoot: string; lowerDirs: string[] }): Record<string, unknown> {
  const s = c.state;
  const dir = `${paths.dataRoot}/containers/${c.id}`;
  return {
    Id: c.id,
    Created: c.created,
    Path: c.path,
    Args: c.args,
    State: {
      Status: s.Status,
      // docker counts a restarting container as running (its stop/rm checks rely on it).
      Running: s.Status === 'running' || s.Status === 'paused' || s.Status === 'restarting',
      Paused: s.Status === 'paused',
      Restarting: s.Status === 'restarting',
      OOMKilled: s.OOMKilled,
      Dead: s.Status === 'dead',
      Pid: s.Pid,
      ExitCode: s.ExitCode,
      Error: s.Error,
      StartedAt: s.StartedAt,
      FinishedAt: s.FinishedAt,
      ...(s.Health ? { Health: s.Health } : {}),
    },
    Image: c.imageId,
    ResolvConfPath: c.resolvConfPath ?? '',
    HostnamePath: c.hostnamePath ?? '',
    HostsPath: c.hostsPath ?? '',
    LogPath: c.logPath,
    Name: `/${c.name}`,
    RestartCount: c.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: {
      Binds: null,
      ContainerIDFile: '',
      // Set at create (log-config.ts); records from before it had the built-in policy.
      LogConfig: BUILTIN_LOG_CONFIG,
      NetworkMode: 'default',
      PortBindings: {},
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      AutoRemove: false,
      VolumeDriver: '',
      VolumesFrom: null,
      CapAdd: null,
      CapDrop: null,
      Dns: [],
      DnsOptions: [],
      DnsSearch: [],
      ExtraHosts: null,
      GroupAdd: null,
      IpcMode: 'private',
      Cgroup: '',
      Links: null,
      OomScoreAdj: 0,
      PidMode: '',
      Privileged: false,
      PublishAllPorts: false,
      ReadonlyRootfs: false,
      SecurityOpt: null,
      UTSMode: '',
      UsernsMode: '',
      ShmSize: 67108864,
      Runtime: 'runc',
      Isolation: '',
      ...LIMIT_DEFAULTS,
      ...c.hostConfig,
    },
    GraphDriver: {
      Name: 'overlay2',
      Data: {
        LowerDir: paths.lowerDirs.join(':'),
        MergedDir: `${dir}/merged`,
        UpperDir: `${dir}/upper`,
        WorkDir: `${dir}/work`,
      },
    },
    Mounts: inspectMounts(c.mounts),
    Config: c.config,
    NetworkSettings: networkSettings(c),
  };
}
