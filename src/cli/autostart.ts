// Start berthd when nothing answers on the default socket, like socket activation: the first
// `berth run` on a fresh machine just works. Only for the default host; a host the user named is
// theirs to run.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'node:http';

const LOG_DIR = '/var/log/berth';
const LOCK = '/run/berth/autostart.lock';
const POLL_MS = 20;
const TIMEOUT_MS = 15_000;

/** bin/berthd of this checkout: walk up from this module (src/cli or dist/src/cli) to the root. */
export function berthdPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'bin', 'berthd');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('cannot find bin/berthd next to the berth CLI');
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Spawn berthd detached (it must outlive this CLI) with its output in /var/log/berth/berthd.log,
 * then wait until it answers /_ping. A lock file keeps concurrent CLIs from starting two daemons;
 * the losers just wait for the winner's daemon.
 */
export async function autostartDaemon(socketPath: string): Promise<void> {
  mkdirSync(dirname(LOCK), { recursive: true });
  let lockFd: number | undefined;
  try {
    lockFd = openSync(LOCK, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // A lock older than the start timeout was left by a CLI that died: take it over.
    if (Date.now() - statSync(LOCK).mtimeMs > TIMEOUT_MS) {
      rmSync(LOCK, { force: true });
      return autostartDaemon(socketPath);
    }
  }
  const logPath = join(LOG_DIR, 'berthd.log');
  let exited: string | undefined;
  try {
    if (lockFd !== undefined) {
      // Someone may have started it between our failed connect and taking the lock.
      if (await ping(socketPath)) return;
      mkdirSync(LOG_DIR, { recursive: true });
      const out = openSync(logPath, 'a');
      // bin/berth drops NODE_EXTRA_CA_CERTS for its own startup; berthd talks TLS to registries and gets it back.
      const { BERTH_SAVED_NODE_EXTRA_CA_CERTS: savedCa, ...env } = process.env;
      if (savedCa) env.NODE_EXTRA_CA_CERTS = savedCa;
      // bin/berthd itself, not node with it as an argument: its first line carries berthd's node options.
      const child = spawn(berthdPath(), [], { detached: true, stdio: ['ignore', out, out], env });
      closeSync(out);
      child.on('exit', (code, signal) => (exited = signal ?? `exit code ${code}`));
      child.unref();
    }
    const deadline = Date.now() + TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (await ping(socketPath)) return;
      if (exited) throw new Error(`berthd exited (${exited}) before answering; see ${logPath}`);
      await sleep(POLL_MS);
    }
    throw new Error(`berthd did not answer on ${socketPath} within ${TIMEOUT_MS / 1000}s; see ${logPath}`);
  } finally {
    if (lockFd !== undefined) {
      closeSync(lockFd);
      rmSync(LOCK, { force: true });
    }
  }
}
