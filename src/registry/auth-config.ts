// The docker CLI's credential store, shared with it: $DOCKER_CONFIG/config.json (default
// ~/.docker/config.json).
//   "auths": { "<server>": { "auth": base64("user:password"), "identitytoken"?: "…" } }
//   "credsStore": "<name>"                   every server's secrets go to docker-credential-<name>
//   "credHelpers": { "<server>": "<name>" }  one server's secrets go to docker-credential-<name>
// Helpers speak docker-credential-helpers' protocol: `get` (stdin: server URL, stdout:
// {"ServerURL","Username","Secret"}), `store` (stdin: that JSON), `erase` (stdin: server URL).
// Docker Hub's key is "https://index.docker.io/v1/"; other registries are keyed by host[:port].
// Only the berth CLI uses this module: the daemon gets credentials per request (X-Registry-Auth).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { RegistryAuth } from './types.js';

export const INDEX_SERVER = 'https://index.docker.io/v1/';
const TOKEN_USERNAME = '<token>';

export interface DockerConfigFile {
  auths?: Record<string, { auth?: string; identitytoken?: string; username?: string; password?: string; email?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

export function configDir(): string {
  return process.env.DOCKER_CONFIG || join(homedir(), '.docker');
}

export function configPath(): string {
  return join(configDir(), 'config.json');
}

export function loadConfig(): DockerConfigFile {
  let text: string;
  try {
    text = readFileSync(configPath(), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  if (text.trim() === '') return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as DockerConfigFile;
  } catch (err) {
    throw new Error(`loading config file ${configPath()}: ${(err as Error).message}`);
  }
}

/** Write atomically (temp file + rename), mode 0600, keeping every key we do not know. */
export function saveConfig(cfg: DockerConfigFile): void {
  mkdirSync(configDir(), { recursive: true, mode: 0o700 });
  const tmp = `${configPath()}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(cfg, null, '\t') + '\n', { mode: 0o600 });
  renameSync(tmp, configPath());
}

/** docker's key for a registry: the index server URL for Docker Hub, else host[:port]. */
export function serverKey(server: string | undefined): string {
  if (!server) return INDEX_SERVER;
  const host = server.trim().replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (host === '' || host === 'docker.io' || host === 'index.docker.io' || host === 'registry-1.docker.io') return INDEX_SERVER;
  return host;
}

/** The config key matching `key`, also when it was stored as a URL ("https://host/v1/"). */
function findAuthKey(cfg: DockerConfigFile, key: string): string | undefined {
  const auths = cfg.auths ?? {};
  if (key in auths) return key;
  return Object.keys(auths).find((k) => serverKey(k) === key);
}

function helperFor(cfg: DockerConfigFile, key: string): string | undefined {
  const helpers = cfg.credHelpers ?? {};
  const hit = Object.keys(helpers).find((k) => serverKey(k) === key);
  if (hit) return helpers[hit];
  return cfg.credsStore || undefined;
}

function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string): string {
  const program = `docker-credential-${helper}`;
  const r = spawnSync(program, [action], { input, encoding: 'utf8' });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT'
        ? `error getting credentials - err: exec: "${program}": executable file not found in $PATH, out: \`\``
        : `${program} ${action}: ${r.error.message}`,
    );
  }
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
    if (action !== 'store' && /credentials not found/i.test(out)) return '';
    throw new Error(`error ${action === 'get' ? 'getting' : action === 'store' ? 'storing' : 'erasing'} credentials - err: exit status ${r.status}, out: \`${out}\``);
  }
  return r.stdout ?? '';
}

/** Credentials for `server` (a reference's domain or a login server), or undefined. */
export function getCredentials(server: string | undefined, cfg: DockerConfigFile = loadConfig()): RegistryAuth | undefined {
  const key = serverKey(server);
  const helper = helperFor(cfg, key);
  if (helper) {
    const out = runHelper(helper, 'get', key).trim();
    if (out) {
      const j = JSON.parse(out) as { Username?: string; Secret?: string };
      if (j.Username === TOKEN_USERNAME) return { identitytoken: j.Secret, serveraddress: key };
      return { username: j.Username, password: j.Secret, serveraddress: key };
    }
    return undefined;
  }
  const found = findAuthKey(cfg, key);
  if (!found) return undefined;
  const entry = cfg.auths![found];
  let username = entry.username;
  let password = entry.password;
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) throw new Error(`invalid auth configuration file ${configPath()}: entry for ${found} is not base64("user:password")`);
    username = decoded.slice(0, i);
    password = decoded.slice(i + 1);
  }
  if (!username && !password && !entry.identitytoken) return undefined;
  return { username, password, identitytoken: entry.identitytoken || undefined, serveraddress: key };
}

/** Returns true when the secret went into config.json itself (no credential helper). */
export function storeCredentials(server: string | undefined, auth: { username: string; password: string; identitytoken?: string }): boolean {
  const cfg = loadConfig();
  const key = serverKey(server);
  const helper = helperFor(cfg, key);
  cfg.auths ??= {};
  const old = findAuthKey(cfg, key);
  if (old && old !== key) delete cfg.auths[old];
  if (helper) {
    const secret = auth.identitytoken ?? auth.password;
    runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: auth.identitytoken ? TOKEN_USERNAME : auth.username, Secret: secret }));
    cfg.auths[key] = {};
  } else {
    cfg.auths[key] = { auth: Buffer.from(`${auth.username}:${auth.password}`).toString('base64') };
    if (auth.identitytoken) cfg.auths[key].identitytoken = auth.identitytoken;
  }
  saveConfig(cfg);
  return !helper;
}

/** Returns false when there was nothing stored for `server`. */
export function eraseCredentials(server: string | undefined): boolean {
  const cfg = loadConfig();
  const key = serverKey(server);
  const helper = helperFor(cfg, key);
  const found = findAuthKey(cfg, key);
  let had = Boolean(found);
  if (helper) {
    had = Boolean(runHelper(helper, 'get', key).trim()) || had;
    if (had) runHelper(helper, 'erase', key);
  }
  if (found) {
    delete cfg.auths![found];
    saveConfig(cfg);
  }
  return had;
}

/** X-Registry-Auth: base64url(JSON) of the credentials, as the docker CLI encodes it. */
export function encodeAuthHeader(auth: RegistryAuth | undefined): string {
  return Buffer.from(JSON.stringify(auth ?? {})).toString('base64url');
}

/** The header for pulling or pushing `domain` (a reference's registry), from the stored credentials. */
export function authHeaderFor(domain: string): Record<string, string> {
  let cfg: DockerConfigFile;
  try {
    cfg = loadConfig();
  } catch (err) {
    // The docker CLI warns about an unreadable config file and goes on without credentials.
    process.stderr.write(`WARNING: Error ${(err as Error).message}\n`);
    return {};
  }
  const auth = getCredentials(domain, cfg);
  return auth ? { 'X-Registry-Auth': encodeAuthHeader(auth) } : {};
}
