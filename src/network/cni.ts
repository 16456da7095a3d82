// Driving CNI plugins (Debian's containernetworking-plugins in /usr/lib/cni) as the CNI spec's
// runtime: one plugin list per network, ADD in order with each result passed on as prevResult, DEL
// in reverse order with the cached ADD result. Results are cached in a file per container and
// network under the data root, so a daemon killed -9 can still DEL what it ADDed.
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SystemError } from '../util/errors.js';

export const CNI_VERSION = '1.0.0';
export const DEFAULT_CNI_PATH = '/usr/lib/cni';

export interface CniPlugin {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface CniConfList {
  cniVersion: string;
  name: string;
  plugins: CniPlugin[];
}

export interface CniPortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
  hostIP?: string;
}

export interface CniRuntimeConfig {
  portMappings?: CniPortMapping[];
}

export interface CniResult {
  cniVersion: string;
  interfaces?: Array<{ name: string; mac?: string; sandbox?: string }>;
  ips?: Array<{ address: string; gateway?: string; interface?: number }>;
  routes?: Array<{ dst: string; gw?: string }>;
  dns?: unknown;
}

/** What DEL needs, kept from ADD. */
export interface CniCacheEntry {
  containerId: string;
  netns: string;
  ifName: string;
  conflist: CniConfList;
  runtimeConfig: CniRuntimeConfig;
  result?: CniResult;
}

export class CniError extends SystemError {}

export class Cni {
  constructor(
    private readonly cacheDir: string,
    private readonly pluginPath = DEFAULT_CNI_PATH,
  ) {}

  private cacheFile(containerId: string, network: string): string {
    return join(this.cacheDir, `${containerId}-${network}.json`);
  }

  private invoke(plugin: string, command: 'ADD' | 'DEL' | 'CHECK', conf: unknown, env: { containerId: string; netns: string; ifName: string }): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(join(this.pluginPath, plugin), [], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: {
          PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
          CNI_COMMAND: command,
          CNI_CONTAINERID: env.containerId,
          CNI_NETNS: env.netns,
          CNI_IFNAME: env.ifName,
          CNI_PATH: this.pluginPath,
        },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', (err) => reject(new CniError(`CNI plugin ${plugin}: ${err.message}`)));
      child.on('close', (code) => {
        if (code === 0) return resolve(stdout);
        let msg = stderr.trim() || `exit status ${code}`;
        try {
          const e = JSON.parse(stdout) as { msg?: string; details?: string };
          if (e.msg) msg = e.details ? `${e.msg}: ${e.details}` : e.msg;
        } catch {
          // not a CNI error object
        }
        reject(new CniError(`CNI plugin ${plugin} ${command} failed: ${msg}`));
      });
      child.stdin.end(JSON.stringify(conf));
    });
  }

  private pluginConf(list: CniConfList, plugin: CniPlugin, rt: CniRuntimeConfig, prevResult?: CniResult): Record<string, unknown> {
    const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
    const runtimeConfig: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
      if (on && cap in rt) runtimeConfig[cap] = (rt as Record<string, unknown>)[cap];
    }
    if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
    if (prevResult) conf.prevResult = prevResult;
    return conf;
  }

  /** ADD the list (after `prevResult`, what an earlier step made); on failure, DEL what was added and throw. */
  async add(list: CniConfList, containerId: string, netns: string, ifName: string, rt: CniRuntimeConfig, prevResult?: CniResult): Promise<CniResult> {
    await mkdir(this.cacheDir, { recursive: true });
    const entry: CniCacheEntry = { containerId, netns, ifName, conflist: list, runtimeConfig: rt, result: prevResult };
    // Written before the first plugin runs: a crash half-way still leaves what DEL needs.
    await this.writeCache(entry);
    let result = prevResult;
    try {
      for (const plugin of list.plugins) {
        const out = await this.invoke(plugin.type, 'ADD', this.pluginConf(list, plugin, rt, result), { containerId, netns, ifName });
        result = JSON.parse(out) as CniResult;
      }
    } catch (err) {
      await this.del(containerId, list.name).catch(() => undefined);
      throw err;
    }
    entry.result = result;
    await this.writeCache(entry);
    return result!;
  }

  /** DEL by the cached entry; a missing cache entry means nothing to undo. */
  async del(containerId: string, network: string): Promise<void> {
    const entry = await this.readCache(containerId, network);
    if (!entry) return;
    await this.delEntry(entry);
  }

  async delEntry(entry: CniCacheEntry): Promise<void> {
    const { conflist: list, containerId, ifName, runtimeConfig } = entry;
    const errors: string[] = [];
    for (const plugin of list.plugins.slice().reverse()) {
      // The netns may be gone already (a crash): plugins then release what lives outside it.
      try {
        await this.invoke(plugin.type, 'DEL', this.pluginConf(list, plugin, runtimeConfig, entry.result), { containerId, netns: entry.netns, ifName });
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    // A failed DEL keeps the cache entry, so a retry (or the next start's reconciliation) can finish it.
    if (errors.length > 0) throw new CniError(errors.join('; '));
    await rm(this.cacheFile(containerId, list.name), { force: true });
  }

  private async writeCache(entry: CniCacheEntry): Promise<void> {
    const file = this.cacheFile(entry.containerId, entry.conflist.name);
    await writeFile(`${file}.tmp`, JSON.stringify(entry));
    await rename(`${file}.tmp`, file);
  }

  async readCache(containerId: string, network: string): Promise<CniCacheEntry | undefined> {
    try {
      return JSON.parse(await readFile(this.cacheFile(containerId, network), 'utf8')) as CniCacheEntry;
    } catch {
      return undefined;
    }
  }

  /** Every cached attachment (for reconciliation after a restart). */
  async listCache(): Promise<CniCacheEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.cacheDir);
    } catch {
      return [];
    }
    const out: CniCacheEntry[] = [];
    for (const n of names.filter((x) => x.endsWith('.json'))) {
      try {
        out.push(JSON.parse(await readFile(join(this.cacheDir, n), 'utf8')) as CniCacheEntry);
      } catch {
        await rm(join(this.cacheDir, n), { force: true });
      }
    }
    return out;
  }
}
