// An isolated berthd for end-to-end tests: its own data root, exec root and socket in a temp dir,
// started from the built bin/berthd, and torn down — containers, conmon, runc state, mounts,
// network namespaces — even when a test fails.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { Cni } from '../../src/network/cni.js';
import { unisolateBridge } from '../../src/network/firewall.js';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
export const BERTHD = join(REPO_ROOT, 'bin', 'berthd');
export const BERTH = join(REPO_ROOT, 'bin', 'berth');

export interface DaemonOptions {
  mirrors?: string[];
  insecureRegistries?: string[];
  extraConfig?: Record<string, unknown>;
  /** Extra berthd flags (e.g. --certs-dir). */
  args?: string[];
  /** berthd's --log-level (default debug); null leaves it to daemon.json. */
  logLevel?: string | null;
  /** Extra environment for berthd. */
  env?: Record<string, string>;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class TestDaemon {
  readonly dir: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly socket: string;
  readonly host: string;
  readonly configFile: string;
  readonly logFile: string;
  /** This instance's default bridge device and subnets (random, so instances run side by side). */
  readonly bridge: string;
  readonly bip: string;
  readonly poolBase: string;
  private proc?: ChildProcess;

  constructor(private readonly options: DaemonOptions = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'berth-e2e-'));
    this.dataRoot = join(this.dir, 'data');
    this.execRoot = join(this.dir, 'exec');
    this.socket = join(this.dir, 'berth.sock');
    this.host = `unix://${this.socket}`;
    this.configFile = join(this.dir, 'daemon.json');
    this.logFile = join(this.dir, 'berthd.log');
    this.bridge = `bt${randomBytes(4).toString('hex')}`;
    // Several instances run at once: a /26 of 10.213.0.0/16 for the default bridge and a /24 of
    // 10.216.0.0/14 for user networks, avoiding ranges another bridge already routes.
    const routes = spawnSync('ip', ['-4', '-o', 'route', 'show'], { encoding: 'utf8' }).stdout ?? '';
    let r = randomInt(0, 1024);
    for (let i = 0; i < 1024 && (routes.includes(`10.213.${r >> 2}.${(r & 3) * 64}/`) || routes.includes(`10.${216 + (r & 3)}.${r >> 2}.`)); i++) r = (r + 1) % 1024;
    this.bip = `10.213.${r >> 2}.${(r & 3) * 64 + 1}/26`;
    this.poolBase = `10.${216 + (r & 3)}.${r >> 2}.0/24`;
    writeFileSync(
      this.configFile,
      JSON.stringify({
        'registry-mirrors': options.mirrors ?? [],
        'insecure-registries': options.insecureRegistries ?? [],
        bridge: this.bridge,
        bip: this.bip,
        'default-address-pools': [{ base: this.poolBase, size: 28 }],
        ...(options.extraConfig ?? {}),
      }),
    );
  }

  async start(): Promise<void> {
    const args = ['--config-file', this.configFile, '-H', this.host, '--data-root', this.dataRoot, '--exec-root', this.execRoot, ...(this.options.logLevel === null ? [] : ['--log-level', this.options.logLevel ?? 'debug']), ...(this.options.args ?? [])];
    const { openSync } = await import('node:fs');
    const out = openSync(this.logFile, 'a');
    // Tests never leave loopback: no fallback from the mirror to Docker Hub.
    this.proc = spawn(BERTHD, args, { stdio: ['ignore', out, out], env: { ...process.env, BERTH_DOCKER_HUB_ORIGIN: 'none', ...(this.options.env ?? {}) } });
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`berthd exited with ${this.proc.exitCode}:\n${this.log()}`);
      if (await this.ping()) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`berthd did not answer within 20 s:\n${this.log()}`);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = request({ socketPath: this.socket, path: '/_ping', timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  }

  /** Raw API call; returns status and parsed body (JSON when it parses, else text). */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const req = request(
        { socketPath: this.socket, path, method, headers: payload ? { 'Content-Type': 'application/json' } : {} },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
          });
        },
      );
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** The real docker CLI against this daemon. */
  docker(args: string[], opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<RunResult> {
    return runCommand('docker', args, { ...opts, env: { DOCKER_HOST: this.host, DOCKER_CONFIG: join(this.dir, 'docker-config'), ...(opts.env ?? {}) } });
  }

  /** `docker inspect -f FORMAT NAME`, trimmed; fails the test when inspect fails. */
  async inspect(name: string, format: string): Promise<string> {
    const r = await this.docker(['inspect', '-f', format, name]);
    if (r.code !== 0) throw new Error(`docker inspect ${name} failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim();
  }

  /** The berth CLI against this daemon. */
  berth(args: string[], opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<RunResult> {
    return runCommand(BERTH, args, { ...opts, env: { BERTH_HOST: this.host, DOCKER_CONFIG: join(this.dir, 'docker-config'), ...(opts.env ?? {}) } });
  }

  /** kill -9, as a crash would. Containers keep running under conmon. */
  kill9(): void {
    this.proc?.kill('SIGKILL');
    this.proc = undefined;
  }

  /** Send a signal to berthd (SIGHUP: reload daemon.json). */
  signal(sig: NodeJS.Signals): void {
    this.proc?.kill(sig);
  }

  async stopDaemon(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (p.exitCode === null) p.kill('SIGKILL');
    this.proc = undefined;
  }

  /** Remove everything this instance made, whatever state a failed test left it in. */
  async cleanup(): Promise<void> {
    const ids: string[] = [];
    if (this.proc && (await this.ping())) {
      const list = await this.api('GET', '/containers/json?all=1').catch(() => undefined);
      if (list && Array.isArray(list.body)) {
        for (const c of list.body as Array<{ Id: string }>) {
          ids.push(c.Id);
          await this.api('DELETE', `/containers/${c.Id}?force=1`).catch(() => undefined);
        }
      }
    }
    await this.stopDaemon();
    sweep(this.execRoot, this.dataRoot, ids);
    await sweepNetwork(this.dataRoot, this.bridge);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Last-resort cleanup of runtime leftovers of one berthd instance. */
function sweep(execRoot: string, dataRoot: string, knownIds: string[]): void {
  // Each runtime keeps its state under <exec root>/<name>; crun goes through berth's launcher on hybrid hosts.
  const launcher = join(REPO_ROOT, 'dist', 'native', 'berth-legacy-cgroups');
  // Build steps run under build-<runtime> (their netns is named after their id like a container's).
  const crun = existsSync(launcher) ? [launcher, '/usr/bin/crun'] : ['crun'];
  for (const [name, cmd] of [
    ['runc', ['runc']],
    ['crun', crun],
    ['build-runc', ['runc']],
    ['build-crun', crun],
  ] as const) {
    const root = join(execRoot, name);
    if (!existsSync(root)) continue;
    const run = (args: string[]) => spawnSync(cmd[0], [...cmd.slice(1), '--root', root, ...args], { encoding: 'utf8' });
    for (const id of (run(['list', '-q']).stdout ?? '').split('\n').filter(Boolean)) {
      knownIds.push(id);
      run(['delete', '-f', id]);
    }
  }
  // conmon processes of this instance carry its exec root on their command line.
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.startsWith('conmon') || cmdline.includes('/conmon\0')) {
        if (cmdline.includes(execRoot)) process.kill(Number(pid), 'SIGKILL');
      }
    } catch {
      // gone already
    }
  }
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m): m is string => !!m && (m.startsWith(dataRoot) || m.startsWith(execRoot)))
    .reverse();
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  for (const id of knownIds) {
    const name = `berth-${id.slice(0, 12)}`;
    if (existsSync(`/run/netns/${name}`)) spawnSync('ip', ['netns', 'del', name]);
  }
}

/** Bridges of this instance (from its metadata database) and the default one. */
export function bridgesOf(dataRoot: string, defaultBridge: string): Array<{ bridge: string; internal: boolean }> {
  const out = [{ bridge: defaultBridge, internal: false }];
  const db = join(dataRoot, 'metadata.db');
  if (!existsSync(db)) return out;
  const r = spawnSync(process.execPath, ['-e', `
    const D = require(${JSON.stringify(join(REPO_ROOT, 'node_modules', 'better-sqlite3'))});
    const db = new D(${JSON.stringify(db)}, { readonly: true });
    try { console.log(JSON.stringify(db.prepare('SELECT json FROM networks').all().map((r) => JSON.parse(r.json)))); } catch { console.log('[]'); }
  `], { encoding: 'utf8' });
  try {
    for (const n of JSON.parse(r.stdout) as Array<{ bridge?: string; internal: boolean }>) {
      if (n.bridge && n.bridge !== defaultBridge) out.push({ bridge: n.bridge, internal: n.internal });
    }
  } catch {
    // no networks table
  }
  return out;
}

/** CNI DEL of every attachment left in the cache (releases veths, leases, iptables), then bridges and isolation rules. */
export async function sweepNetwork(dataRoot: string, defaultBridge: string): Promise<void> {
  const cni = new Cni(join(dataRoot, 'network', 'cni-cache'));
  for (const e of await cni.listCache()) await cni.delEntry(e).catch(() => undefined);
  for (const { bridge, internal } of bridgesOf(dataRoot, defaultBridge)) {
    await unisolateBridge(bridge, internal);
    if (existsSync(`/sys/class/net/${bridge}`)) spawnSync('ip', ['link', 'del', bridge]);
  }
}

export function runCommand(
  cmd: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    // A command that exits without reading stdin makes the write fail with EPIPE: not an error here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * The usual end-to-end setup: a real registry seeded by `seed`, and an isolated berthd that may
 * use it as its docker.io mirror. `stop()` tears both down whatever state a test left.
 */
export async function startStack(opts: { mirror?: boolean; seed?: (host: string) => Promise<unknown> } = {}): Promise<{
  registry: RunningRegistry;
  daemon: TestDaemon;
  stop(): Promise<void>;
}> {
  const registry = await startRegistry();
  const daemon = new TestDaemon({ mirrors: opts.mirror ? [registry.url] : [], insecureRegistries: [registry.host] });
  const stop = async () => {
    await daemon.cleanup();
    await registry.stop();
  };
  try {
    await opts.seed?.(registry.host);
    await daemon.start();
  } catch (err) {
    await stop();
    throw err;
  }
  return { registry, daemon, stop };
}
