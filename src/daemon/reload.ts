// SIGHUP: re-read daemon.json and apply what dockerd applies live here: registry-mirrors,
// insecure-registries and log-level. Keys set by a command-line flag keep the flag's value; keys
// no longer in the file go back to their defaults. An invalid file changes nothing (logged).
import { errorMessage } from '../util/errors.js';
import { logger, setLogLevel } from '../util/log.js';
import { defaultConfig, readConfigFile, type DaemonConfig } from './config.js';

const log = logger('daemon');

export interface Reloadable {
  config: DaemonConfig;
  registry: { reconfigure(update: { mirrors?: string[]; insecureRegistries?: string[] }): void };
}

/** Returns true when the new configuration was applied. */
export function reloadConfig(daemon: Reloadable): boolean {
  const cfg = daemon.config;
  let file: Partial<DaemonConfig>;
  try {
    file = readConfigFile(cfg.configFile, false);
  } catch (err) {
    log.error({ err: errorMessage(err) }, 'error reloading the configuration; keeping the current one');
    return false;
  }
  const flags = cfg.fromFlags ?? {};
  // As dockerd: a directive given both as a flag and in the file makes the reload fail.
  const both = (['registryMirrors', 'insecureRegistries', 'logLevel'] as const).filter((k) => k in flags && k in file);
  if (both.length > 0) {
    const names = { registryMirrors: 'registry-mirrors', insecureRegistries: 'insecure-registries', logLevel: 'log-level' };
    log.error(
      { err: `the following directives are specified both as a flag and in the configuration file: ${both.map((k) => names[k]).join(', ')}` },
      'error reloading the configuration; keeping the current one',
    );
    return false;
  }
  const defaults = defaultConfig();
  const pick = <K extends 'registryMirrors' | 'insecureRegistries' | 'logLevel'>(key: K): DaemonConfig[K] =>
    (flags[key] ?? file[key] ?? defaults[key]) as DaemonConfig[K];
  cfg.registryMirrors = pick('registryMirrors');
  cfg.insecureRegistries = pick('insecureRegistries');
  cfg.logLevel = pick('logLevel');
  daemon.registry.reconfigure({ mirrors: cfg.registryMirrors, insecureRegistries: cfg.insecureRegistries });
  setLogLevel(cfg.logLevel);
  log.info(
    { registryMirrors: cfg.registryMirrors, insecureRegistries: cfg.insecureRegistries, logLevel: cfg.logLevel },
    'configuration reloaded',
  );
  return true;
}
