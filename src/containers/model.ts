// The container record berth keeps, in docker's vocabulary so inspect can render it directly.
import type { EndpointSettings, PortMap } from '../network/model.js';
import type { MountPoint } from '../volumes/model.js';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerState {
  Status: ContainerStatus;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  OOMKilled: boolean;
  /** docker's State.Health, present when the container has a healthcheck (containers/health.ts). */
  Health?: HealthState;
}

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

export interface HealthLogEntry {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

export interface HealthState {
  Status: HealthStatus;
  FailingStreak: number;
  Log: HealthLogEntry[];
}

/** docker's HealthConfig: durations in nanoseconds; Test ["CMD", ...], ["CMD-SHELL", cmd] or ["NONE"]. */
export interface HealthConfig {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** docker's Config (container create body, minus HostConfig/NetworkingConfig). */
export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, object> | null;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | string | null;
  Healthcheck?: HealthConfig | null;
  ArgsEscaped?: boolean;
  Image?: string;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Entrypoint?: string[] | string | null;
  NetworkDisabled?: boolean;
  OnBuild?: string[] | null;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number;
  Shell?: string[];
}

export interface HostConfig {
  AutoRemove?: boolean;
  NetworkMode?: string;
  RestartPolicy?: { Name?: string; MaximumRetryCount?: number };
  Privileged?: boolean;
  ReadonlyRootfs?: boolean;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  SecurityOpt?: string[] | null;
  /** The OCI runtime (daemon's runtimes); recorded at create, the default one when not given. */
  Runtime?: string;
  [key: string]: unknown;
}

export interface ContainerRecord {
  id: string;
  /** Without the leading slash. */
  name: string;
  created: string;
  path: string;
  args: string[];
  /** The image as the user named it (Config.Image). */
  image: string;
  imageId: string;
  /** Layers of the image, bottom first: the container holds them against garbage collection. */
  chainIds: string[];
  config: ContainerConfig;
  hostConfig: HostConfig;
  state: ContainerState;
  restartCount: number;
  /** Set by a stop or kill from the user, cleared by a start: `unless-stopped` honours it. */
  hasBeenManuallyStopped?: boolean;
  /** The user as resolved at start, for inspect-free debugging. */
  hostnamePath?: string;
  hostsPath?: string;
  resolvConfPath?: string;
  logPath: string;
  /** Networks by name: asked for at create/connect; addresses filled in while running. */
  networks?: Record<string, EndpointSettings>;
  /** Published ports while running (NetworkSettings.Ports). */
  ports?: PortMap;
  /** Binds, volumes and tmpfs mounts, resolved at create (docker's MountPoints). */
  mounts?: MountPoint[];
}

export function initialState(): ContainerState {
  return { Status: 'created', Pid: 0, ExitCode: 0, Error: '', StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME, OOMKilled: false };
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

const ADJECTIVES = [
  'agile', 'bold', 'brave', 'bright', 'calm', 'clever', 'cool', 'crisp', 'eager', 'fair', 'fond', 'gentle',
  'glad', 'happy', 'keen', 'kind', 'lucid', 'merry', 'nimble', 'noble', 'proud', 'quick', 'quiet', 'sharp',
  'steady', 'sunny', 'swift', 'tidy', 'vivid', 'warm', 'wise', 'zealous',
];
const NAMES = [
  'babbage', 'bohr', 'curie', 'darwin', 'dijkstra', 'euler', 'faraday', 'fermi', 'gauss', 'hamilton', 'hopper',
  'hypatia', 'kepler', 'knuth', 'lamarr', 'lovelace', 'maxwell', 'meitner', 'newton', 'noether', 'pascal',
  'ritchie', 'shannon', 'tesla', 'thompson', 'turing', 'volta', 'wozniak', 'yalow', 'zuse',
];

/** docker-style generated names ("adjective_scientist"), with a numeric suffix on collision. */
export function generateName(taken: (name: string) => boolean): string {
  for (let attempt = 0; ; attempt++) {
    const a = ADJECTIVES[Math.floor(Math.random() * ADJECTIVES.length)];
    const n = NAMES[Math.floor(Math.random() * NAMES.length)];
    const name = attempt < 10 ? `${a}_${n}` : `${a}_${n}${attempt}`;
    if (!taken(name)) return name;
  }
}

export const VALID_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
