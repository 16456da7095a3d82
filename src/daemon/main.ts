// berthd entry point: parse flags, take the pidfile, start the engine, stop cleanly on signals.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorMessage } from '../util/errors.js';
import { configureLogging, logger } from '../util/log.js';
import { parseDaemonArgs, USAGE } from './config.js';
import { BERTH_VERSION } from '../api/system.js';

/** A pid from an old pidfile counts only if it is a running berthd (not a zombie, not a reused pid). */
function isLiveBerthd(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('berthd');
  } catch {
    return false;
  }
}

function takePidfile(path: string): void {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (pid > 0 && pid !== process.pid && isLiveBerthd(pid)) {
      throw new Error(`pid file found, ensure berthd is not running or delete ${path}`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${process.pid}`);
}

async function main(): Promise<void> {
  const { config, help, version } = parseDaemonArgs(process.argv.slice(2));
  if (help) {
    process.stdout.write(USAGE);
    return;
  }
  if (version) {
    process.stdout.write(`Berth version ${BERTH_VERSION}\n`);
    return;
  }
  configureLogging(config.logLevel);
  const log = logger('daemon');
  takePidfile(config.pidfile);
  // Imported after logging is configured: components take their logger when their module loads.
  const { Daemon } = await import('./daemon.js');
  const daemon = await Daemon.start(config);
  log.info({ dataRoot: config.dataRoot, execRoot: config.execRoot }, 'berthd ready');
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    daemon
      .stop()
      .catch((err) => log.error({ err }, 'shutdown failed'))
      .finally(() => {
        rmSync(config.pidfile, { force: true });
        process.exit(0);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  const { reloadConfig } = await import('./reload.js');
  process.on('SIGHUP', () => reloadConfig(daemon));
}

main().catch((err) => {
  process.stderr.write(`berthd: ${errorMessage(err)}\n`);
  process.exit(1);
});
