// HostConfig.LogConfig: docker's `--log-driver`/`--log-opt` and daemon.json `log-driver`/`log-opts`.
// berth stores container logs in files (conmon's k8s-file format) whatever the driver is called;
// `json-file` is the default name, as in docker, and rotation is on by default (10m x 3).
import { InvalidParameterError } from '../util/errors.js';
import { parseHumanSize } from '../util/human.js';
import type { RotationPolicy } from '../runtime/log-rotation.js';

export interface LogConfig {
  Type: string;
  Config: Record<string, string>;
}

/** Drivers berth has: json-file (k8s-file is podman's name for the same files) and none. */
const DRIVERS = new Set(['json-file', 'k8s-file', 'none']);

/** What daemon.json may leave out: unlike docker, rotation is on unless told otherwise. */
export const BUILTIN_LOG_CONFIG: LogConfig = { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } };

/** docker's json-file options; env/labels/tag only add attributes to JSON lines berth does not write. */
const FILE_OPTS = new Set(['max-size', 'max-file', 'compress', 'env', 'env-regex', 'labels', 'labels-regex', 'tag', 'mode', 'max-buffer-size']);

/** With `none`, conmon still keeps this much for attach (which reads the file), never more. */
const NONE_ATTACH_BUFFER = 1024 * 1024;

export interface LogPolicy {
  driver: string;
  /** `logs` can read the container's output (not with `none`). */
  readable: boolean;
  rotation: RotationPolicy;
}

/**
 * dockerd's mergeAndVerifyLogConfig: an unnamed driver is the daemon's, and the daemon's options
 * fill in what the container did not set when the drivers match. Throws docker's errors (400).
 */
export function mergeLogConfig(given: Partial<LogConfig> | null | undefined, defaults: LogConfig): LogConfig {
  const Type = given?.Type || defaults.Type;
  const Config: Record<string, string> = { ...(given?.Config ?? {}) };
  if (Type === defaults.Type) {
    for (const [k, v] of Object.entries(defaults.Config)) if (!(k in Config)) Config[k] = v;
  }
  const cfg = { Type, Config };
  logPolicy(cfg);
  return cfg;
}

/** Check a log config and read the rotation it asks for; docker's wording on bad values. */
export function logPolicy(cfg: LogConfig): LogPolicy {
  if (!DRIVERS.has(cfg.Type)) throw new InvalidParameterError(`logger: no log driver named '${cfg.Type}' is registered`);
  if (cfg.Type === 'none') return { driver: 'none', readable: false, rotation: { maxSize: NONE_ATTACH_BUFFER, maxFile: 1 } };
  const opts = cfg.Config ?? {};
  const mode = opts.mode ?? '';
  if (mode !== '' && mode !== 'blocking' && mode !== 'non-blocking') throw new InvalidParameterError(`logger: logging mode not supported: ${mode}`);
  for (const key of Object.keys(opts)) {
    if (!FILE_OPTS.has(key)) throw new InvalidParameterError(`unknown log opt '${key}' for ${cfg.Type} log driver`);
  }
  const fail = (why: string) => new InvalidParameterError(`failed to initialize logging driver: ${why}`);
  const builtin = BUILTIN_LOG_CONFIG.Config;
  let maxSize: number;
  try {
    maxSize = parseHumanSize(opts['max-size'] ?? builtin['max-size'], 'decimal');
  } catch (err) {
    throw fail((err as Error).message);
  }
  if (maxSize <= 0) throw fail('max-size must be a positive number');
  const maxFileText = opts['max-file'] ?? builtin['max-file'];
  if (!/^[+-]?\d+$/.test(maxFileText)) throw fail(`strconv.Atoi: parsing "${maxFileText}": invalid syntax`);
  const maxFile = Number(maxFileText);
  if (maxFile < 1) throw fail('max-file cannot be less than 1');
  const compress = opts.compress;
  if (compress !== undefined) {
    if (!/^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.test(compress)) throw fail(`strconv.ParseBool: parsing "${compress}": invalid syntax`);
    if (/^(1|t|T|TRUE|true|True)$/.test(compress)) throw fail('compress is not supported by berth: rotated log files are kept uncompressed');
  }
  return { driver: cfg.Type, readable: true, rotation: { maxSize, maxFile } };
}

/** daemon.json `log-driver` and `log-opts`, checked as dockerd does at start. */
export function daemonLogConfig(driver: string | undefined, opts: Record<string, string> | undefined): LogConfig {
  const Type = driver || BUILTIN_LOG_CONFIG.Type;
  const Config = Type === BUILTIN_LOG_CONFIG.Type ? { ...BUILTIN_LOG_CONFIG.Config, ...(opts ?? {}) } : { ...(opts ?? {}) };
  const cfg = { Type, Config };
  try {
    logPolicy(cfg);
  } catch (err) {
    throw new InvalidParameterError(`failed to set log opts: ${(err as Error).message}`);
  }
  return cfg;
}

/** The log policy a container was created with (records from before LogConfig: the built-in one). */
export function recordLogPolicy(hostConfig: Record<string, unknown>): LogPolicy {
  const cfg = hostConfig.LogConfig as LogConfig | undefined;
  return logPolicy(cfg?.Type ? { Type: cfg.Type, Config: cfg.Config ?? {} } : BUILTIN_LOG_CONFIG);
}
