// berthd configuration: dockerd's flags and daemon.json keys where they mean the same thing.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { InvalidParameterError } from '../util/errors.js';
import type { LogLevel } from '../util/log.js';
import type { RuntimeConfig } from '../runtime/runtimes.js';
import { defaultCertsDir } from '../registry/tls.js';
import { BUILTIN_LOG_CONFIG, daemonLogConfig, type LogConfig } from '../containers/log-config.js';

export interface DaemonConfig {
  hosts: string[];
  dataRoot: string;
  execRoot: string;
  pidfile: string;
  configFile: string;
  logLevel: LogLevel;
  registryMirrors: string[];
  insecureRegistries: string[];
  liveRestore: boolean;
  /** Runtimes beside the built-in runc and crun (daemon.json `runtimes`, `--add-runtime`). */
  runtimes: Record<string, RuntimeConfig>;
  /** Unset: crun where it can run, else runc (see runtime/runtimes.ts). */
  defaultRuntime?: string;
  conmonPath: string;
  /** Unix socket group; docker uses "docker". Root-only (0660, gid 0) unless configured. */
  group?: string;
  /** Per-registry CAs and client certificates (docker's certs.d layout). */
  certsDir: string;
  /** What the command line set (a reload of daemon.json keeps these). */
  fromFlags?: Partial<DaemonConfig>;
  /** Device of the default bridge network (dockerd --bridge). */
  bridge: string;
  /** Gateway address/prefix of the default bridge (dockerd --bip). */
  bip: string;
  /** Where user-defined networks get their subnets (daemon.json default-address-pools). */
  defaultAddressPools: Array<{ base: string; size: number }>;
  /** Containers' default log driver and options (daemon.json log-driver, log-opts): see logConfig. */
  logDriver: string;
  logOpts: Record<string, string>;
  /** The two above, checked and merged with berth's built-in rotation defaults. */
  logConfig: LogConfig;
}

export const DEFAULT_SOCKET = 'unix:///run/berth/berth.sock';
const DEFAULT_CONFIG_FILE = '/etc/berth/daemon.json';

/** daemon.json keys berth understands, mapped to the config field they set. */
const FILE_KEYS: Record<string, keyof DaemonConfig> = {
  hosts: 'hosts',
  'data-root': 'dataRoot',
  'exec-root': 'execRoot',
  pidfile: 'pidfile',
  'log-level': 'logLevel',
  'registry-mirrors': 'registryMirrors',
  'insecure-registries': 'insecureRegistries',
  'live-restore': 'liveRestore',
  group: 'group',
  runtimes: 'runtimes',
  'default-runtime': 'defaultRuntime',
  bridge: 'bridge',
  bip: 'bip',
  'default-address-pools': 'defaultAddressPools',
  'log-driver': 'logDriver',
  'log-opts': 'logOpts',
};
/** Keys docker accepts that berth reads but whose feature lands later; accepted so a docker daemon.json loads. */
const ACCEPTED_LATER = new Set(['debug', 'features', 'experimental']);

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export function defaultConfig(): DaemonConfig {
  return {
    hosts: [DEFAULT_SOCKET],
    dataRoot: '/var/lib/berth',
    execRoot: '/run/berth',
    pidfile: '/run/berth/berthd.pid',
    configFile: DEFAULT_CONFIG_FILE,
    logLevel: 'info',
    registryMirrors: [],
    insecureRegistries: [],
    liveRestore: true,
    runtimes: {},
    conmonPath: 'conmon',
    certsDir: defaultCertsDir(),
    bridge: 'berth0',
    bip: '10.199.0.1/16',
    defaultAddressPools: [{ base: '10.200.0.0/16', size: 24 }],
    logDriver: BUILTIN_LOG_CONFIG.Type,
    logOpts: {},
    logConfig: BUILTIN_LOG_CONFIG,
  };
}

export const USAGE = `Usage:	berthd [OPTIONS]

A self-sufficient runtime for containers, Docker-compatible.

Options:
      --config-file string        Daemon configuration file (default "${DEFAULT_CONFIG_FILE}")
      --data-root string          Root directory of persistent state (default "/var/lib/berth")
      --exec-root string          Root directory for execution state files (default "/run/berth")
  -H, --host list                 Daemon socket(s) to connect to (default ${DEFAULT_SOCKET})
  -l, --log-level string          Set the logging level ("debug"|"info"|"warn"|"error"|"fatal") (default "info")
  -D, --debug                     Enable debug mode
  -p, --pidfile string            Path to use for daemon PID file (default "/run/berth/berthd.pid")
      --registry-mirror list      Preferred registry mirror
      --insecure-registry list    Enable insecure registry communication
      --certs-dir string          Registry CAs and client certificates, as <dir>/<host:port>/ca.crt
                                  (default $BERTH_CERTS_DIR or "/etc/berth/certs.d")
      --live-restore              Keep containers running when the daemon stops (default true)
      --add-runtime runtime       Register an additional OCI compatible runtime (name=path)
      --default-runtime string    Default OCI runtime for containers (default crun if installed, else runc)
      --log-driver string         Default driver for container logs (default "json-file")
      --log-opt map               Default log driver options for containers (default max-size=10m, max-file=3)
  -b, --bridge string             Attach containers to a network bridge (default "berth0")
      --bip string                Specify network bridge IP (default "10.199.0.1/16")
  -h, --help                      Print usage
  -v, --version                   Print version information and quit
`;

export type ParsedArgs = { config: DaemonConfig; help: boolean; version: boolean };

export function parseDaemonArgs(argv: string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        host: { type: 'string', short: 'H', multiple: true },
        'data-root': { type: 'string' },
        'exec-root': { type: 'string' },
        pidfile: { type: 'string', short: 'p' },
        'config-file': { type: 'string' },
        'log-level': { type: 'string', short: 'l' },
        debug: { type: 'boolean', short: 'D' },
        'registry-mirror': { type: 'string', multiple: true },
        'insecure-registry': { type: 'string', multiple: true },
        'certs-dir': { type: 'string' },
        'live-restore': { type: 'boolean' },
        'add-runtime': { type: 'string', multiple: true },
        'default-runtime': { type: 'string' },
        'log-driver': { type: 'string' },
        'log-opt': { type: 'string', multiple: true },
        bridge: { type: 'string', short: 'b' },
        bip: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    throw new InvalidParameterError((err as Error).message);
  }
  const v = parsed.values;
  const config = defaultConfig();
  const configFile = v['config-file'] ?? DEFAULT_CONFIG_FILE;
  config.configFile = configFile;
  const fromFile = readConfigFile(configFile, v['config-file'] !== undefined);

  const fromFlags: Partial<DaemonConfig> = {};
  if (v.host) fromFlags.hosts = v.host;
  if (v['data-root']) fromFlags.dataRoot = v['data-root'];
  if (v['exec-root']) fromFlags.execRoot = v['exec-root'];
  if (v.pidfile) fromFlags.pidfile = v.pidfile;
  if (v['log-level']) fromFlags.logLevel = checkLogLevel(v['log-level']);
  if (v.debug) fromFlags.logLevel = 'debug';
  if (v['registry-mirror']) fromFlags.registryMirrors = v['registry-mirror'];
  if (v['insecure-registry']) fromFlags.insecureRegistries = v['insecure-registry'];
  if (v['live-restore'] !== undefined) fromFlags.liveRestore = v['live-restore'];
  if (v['default-runtime']) fromFlags.defaultRuntime = v['default-runtime'];
  if (v['add-runtime']) fromFlags.runtimes = Object.fromEntries(v['add-runtime'].map(parseAddRuntime));
  if (v['certs-dir']) fromFlags.certsDir = v['certs-dir'];
  if (v['log-driver']) fromFlags.logDriver = v['log-driver'];
  if (v['log-opt']) fromFlags.logOpts = Object.fromEntries(v['log-opt'].map((kv) => (kv.includes('=') ? [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] : [kv, ''])));
  if (v.bridge) fromFlags.bridge = checkBridge(v.bridge);
  if (v.bip) fromFlags.bip = checkBip(v.bip);

  // dockerd refuses a directive given both ways rather than silently picking one.
  const fileKeyOf = (field: string) => Object.keys(FILE_KEYS).find((k) => FILE_KEYS[k] === field) ?? field;
  const both = Object.keys(fromFlags).filter((k) => k in fromFile).map(fileKeyOf);
  if (both.length > 0) {
    throw new InvalidParameterError(
      `unable to configure the berth daemon with file ${configFile}: the following directives are specified both as a flag and in the configuration file: ${both.join(', ')}`,
    );
  }
  Object.assign(config, fromFile, fromFlags);
  config.fromFlags = fromFlags;
  config.logConfig = daemonLogConfig(config.logDriver, config.logOpts);
  // The pidfile follows a non-default exec root so isolated instances never share one.
  if (!fromFlags.pidfile && !fromFile.pidfile && config.execRoot !== '/run/berth') config.pidfile = `${config.execRoot}/berthd.pid`;
  return { config, help: v.help ?? false, version: v.version ?? false };
}

/** dockerd's `--add-runtime name=path`. */
function parseAddRuntime(flag: string): [string, RuntimeConfig] {
  const eq = flag.indexOf('=');
  if (eq <= 0 || eq === flag.length - 1) throw new InvalidParameterError(`invalid runtime argument: ${flag} (expected name=path)`);
  return [flag.slice(0, eq), { path: flag.slice(eq + 1) }];
}

function checkBridge(name: string): string {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/.test(name)) throw new InvalidParameterError(`invalid bridge name: ${name}`);
  return name;
}

function checkBip(bip: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(bip);
  if (!m || m.slice(1, 5).some((p) => Number(p) > 255) || Number(m[5]) > 30 || Number(m[5]) < 8) {
    throw new InvalidParameterError(`invalid bip: ${bip}: expected an IPv4 address with a prefix length, e.g. 10.199.0.1/16`);
  }
  return bip;
}

function checkPools(path: string, value: unknown): Array<{ base: string; size: number }> {
  const bad = () => new InvalidParameterError(`unable to configure the berth daemon with file ${path}: "default-address-pools" must be a list of {"base": "a.b.c.d/n", "size": n}`);
  if (!Array.isArray(value) || value.length === 0) throw bad();
  return value.map((p: unknown) => {
    const o = p as { base?: unknown; size?: unknown };
    if (typeof o !== 'object' || o === null || typeof o.base !== 'string' || typeof o.size !== 'number') throw bad();
    const m = /^[\d.]+\/(\d{1,2})$/.exec(o.base);
    if (!m || o.size < Number(m[1]) || o.size > 30) throw bad();
    return { base: o.base, size: o.size };
  });
}

function checkLogLevel(level: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new InvalidParameterError(`unable to parse logging level: ${level}`);
  return level as LogLevel;
}

export function readConfigFile(path: string, required: boolean): Partial<DaemonConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !required) return {};
    throw new InvalidParameterError(`unable to configure the berth daemon with file ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InvalidParameterError(`unable to configure the berth daemon with file ${path}: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidParameterError(`unable to configure the berth daemon with file ${path}: expected a JSON object`);
  }
  const out: Partial<DaemonConfig> = {};
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(json)) {
    const field = FILE_KEYS[key];
    if (!field) {
      if (!ACCEPTED_LATER.has(key)) unknown.push(key);
      continue;
    }
    (out as Record<string, unknown>)[field] = checkType(path, key, field, value);
  }
  if (unknown.length > 0) {
    throw new InvalidParameterError(
      `unable to configure the berth daemon with file ${path}: the following directives don't match any configuration option: ${unknown.join(', ')}`,
    );
  }
  return out;
}

function checkType(path: string, key: string, field: keyof DaemonConfig, value: unknown): unknown {
  const bad = (want: string) =>
    new InvalidParameterError(`unable to configure the berth daemon with file ${path}: "${key}" must be ${want}`);
  if (field === 'runtimes') return checkRuntimes(value, bad);
  const def = defaultConfig()[field];
  if (field === 'defaultAddressPools') return checkPools(path, value);
  if (field === 'logOpts') {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.values(value).every((x) => typeof x === 'string')) {
      throw bad('an object of strings');
    }
    return value;
  }
  if (Array.isArray(def)) {
    if (!Array.isArray(value) || !value.every((x) => typeof x === 'string')) throw bad('a list of strings');
    return value;
  }
  if (typeof def === 'boolean') {
    if (typeof value !== 'boolean') throw bad('true or false');
    return value;
  }
  if (typeof value !== 'string') throw bad('a string');
  if (field === 'bip') return checkBip(value);
  if (field === 'bridge') return checkBridge(value);
  return field === 'logLevel' ? checkLogLevel(value) : value;
}

/** `"runtimes": {"name": {"path": "...", "runtimeArgs": ["..."]}}` as dockerd reads it. */
function checkRuntimes(value: unknown, bad: (want: string) => Error): Record<string, RuntimeConfig> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('an object of runtimes');
  const out: Record<string, RuntimeConfig> = {};
  for (const [name, entry] of Object.entries(value as Record<string, unknown>)) {
    const e = entry as { path?: unknown; runtimeArgs?: unknown } | null;
    if (typeof e !== 'object' || e === null || typeof e.path !== 'string' || e.path === '') throw bad(`an object of runtimes; "${name}" needs a "path"`);
    if (e.runtimeArgs !== undefined && (!Array.isArray(e.runtimeArgs) || !e.runtimeArgs.every((a) => typeof a === 'string'))) {
      throw bad(`an object of runtimes; "${name}".runtimeArgs must be a list of strings`);
    }
    out[name] = { path: e.path, runtimeArgs: e.runtimeArgs as string[] | undefined };
  }
  return out;
}
