// Registry client: the distribution (OCI) HTTP API v2, pull side only.
//
// resolve(): ping /v2/, authenticate (anonymous, Basic, or Bearer tokens from the realm the
// registry names), GET the manifest (index or image manifest), pick one platform, verify every
// manifest's bytes and the config blob against their digests, and parse them.
// fetchBlob(): a raw blob stream (redirects followed) for the caller to hash and store.
//
// Docker Hub refs are tried on each configured mirror in order, then on the origin; any failure
// (connection error, 404, 5xx, bad content) on a mirror moves on to the next endpoint.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Readable } from 'node:stream';
import { discardBody, plainAgent, sendRequest, tlsAgent, type HttpAgentLike, type HttpResponse } from './http.js';
import { certsDirFor, tlsConnectOptions } from './tls.js';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from '../images/oci.js';
import { MediaType, isIndexMediaType, isManifestMediaType } from '../images/oci.js';
import { sha256Digest } from '../util/digest.js';
import { BerthError, DigestMismatchError, NotFoundError, SystemError, UnauthorizedError } from '../util/errors.js';
import { logger } from '../util/log.js';
import { DEFAULT_DOMAIN, familiarName, familiarString } from './reference.js';
import type { ImageReference, RegistryAuth, RegistryClient, RegistryClientOptions, RegistryRequest, RegistryResponse, ResolvedImage } from './types.js';

const log = logger('registry');

export const DOCKER_HUB_ORIGIN = 'https://registry-1.docker.io';
const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest].join(', ');
const DOCKER_SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;
const MAX_CONFIG_BYTES = 32 * 1024 * 1024;
const MAX_REDIRECTS = 8;
const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

interface Challenge {
  scheme: 'none' | 'basic' | 'bearer';
  params: Record<string, string>;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

type Headers = Record<string, string>;

/** The registry could not be reached at all (dial/DNS/reset): docker's `Get "…": dial tcp …` wording. */
class NetworkError extends SystemError {}

/** Thrown for "this endpoint cannot serve the request": the next mirror (if any) is tried. */
class EndpointError extends Error {
  constructor(
    readonly error: BerthError,
    /** false for errors that no other endpoint can fix (bad credentials). */
    readonly fallback = true,
  ) {
    super(error.message);
  }
}

export function createRegistryClient(options: RegistryClientOptions): HttpRegistryClient {
  return new HttpRegistryClient(options);
}

// ---------------------------------------------------------------------------------------------

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

function splitHostPort(host: string): { hostname: string; port?: string } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
  if (!m) return { hostname: host };
  return { hostname: m[1], port: m[2] };
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => (acc << 8) + Number(part), 0) >>> 0;
}

function inCidr(ip: string, cidr: string): boolean {
  const [net, bitsStr] = cidr.split('/');
  const bits = Number(bitsStr);
  if (isIP(ip) !== 4 || isIP(net) !== 4 || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (ipv4ToInt(ip) & mask) === (ipv4ToInt(net) & mask);
}

/** Does host:port complete a TLS handshake? undefined when nothing answers at all. */
function probeTls(host: string, port: number, timeoutMs = 3000): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, servername: isIP(host) ? undefined : host, timeout: timeoutMs });
    const done = (v: boolean | undefined) => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(v);
    };
    socket.once('secureConnect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH' ? undefined : false));
  });
}

function joinUrl(endpoint: string, path: string): string {
  return endpoint.replace(/\/+$/, '') + path;
}

/** Go's net/http error wording for a failed dial, which docker users recognise. */
function describeNetworkError(method: string, url: string, err: unknown): string {
  const u = new URL(url);
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  const hostPort = `${u.hostname}:${port}`;
  const e = err as { code?: string; cause?: { code?: string; message?: string }; message?: string };
  const code = e?.code ?? e?.cause?.code;
  let detail: string;
  switch (code) {
    case 'ECONNREFUSED':
      detail = `dial tcp ${hostPort}: connect: connection refused`;
      break;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      detail = `dial tcp: lookup ${u.hostname}: no such host`;
      break;
    case 'ETIMEDOUT':
      detail = `dial tcp ${hostPort}: i/o timeout`;
      break;
    case 'ECONNRESET':
    case 'EPIPE':
      detail = `read tcp ${hostPort}: connection reset by peer`;
      break;
    case 'EHOSTUNREACH':
      detail = `dial tcp ${hostPort}: connect: no route to host`;
      break;
    case 'ENETUNREACH':
      detail = `dial tcp ${hostPort}: connect: network is unreachable`;
      break;
    default:
      detail = e?.cause?.message ?? e?.message ?? String(err);
  }
  const verb = method.charAt(0) + method.slice(1).toLowerCase();
  return `${verb} "${url}": ${detail}`;
}

/** Parse `WWW-Authenticate: Bearer realm="…",service="…"` (first challenge only). */
export function parseChallenge(header: string | string[] | undefined): Challenge {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return { scheme: 'none', params: {} };
  const m = /^\s*(\w+)\s*(.*)$/s.exec(value);
  if (!m) return { scheme: 'none', params: {} };
  const scheme = m[1].toLowerCase();
  const params: Record<string, string> = {};
  const re = /([\w.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2])) !== null) {
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  }
  if (scheme === 'basic') return { scheme: 'basic', params };
  if (scheme === 'bearer') return { scheme: 'bearer', params };
  return { scheme: 'none', params };
}

function headerValue(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

async function readBody(body: HttpResponse['body'], limit: number, url: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      body.destroy();
      throw new SystemError(`Get "${url}": response too large (more than ${limit} bytes)`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

interface RegistryErrorBody {
  code?: string;
  message?: string;
  detail?: unknown;
}

function parseErrors(buf: Buffer): RegistryErrorBody[] {
  try {
    const j = JSON.parse(buf.toString('utf8')) as { errors?: RegistryErrorBody[]; details?: string; message?: string };
    if (Array.isArray(j.errors)) return j.errors;
    if (typeof j.details === 'string') return [{ code: 'UNAUTHORIZED', message: j.details }];
    if (typeof j.message === 'string') return [{ message: j.message }];
  } catch {
    /* not JSON */
  }
  return [];
}

/** The digest of `bytes` in the algorithm `expected` uses (references may pin sha384/sha512). */
function digestWithAlgorithm(bytes: Buffer, expected: string, sha256: string): string {
  const algorithm = expected.slice(0, expected.indexOf(':'));
  if (algorithm === 'sha256') return sha256;
  if (algorithm !== 'sha384' && algorithm !== 'sha512') return sha256;
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

function platformMatches(p: Platform | undefined, want: Platform): boolean {
  if (!p) return false;
  if (p.os !== want.os || p.architecture !== want.architecture) return false;
  if (want.variant) {
    const variant = p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined);
    return variant === want.variant;
  }
  return true;
}

function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

// ---------------------------------------------------------------------------------------------

export class HttpRegistryClient implements RegistryClient {
  private readonly plain = plainAgent();
  private readonly tls = tlsAgent();
  /** TLS agents for registries with a certs.d directory, by host:port. */
  private readonly tlsDispatchers = new Map<string, { key: string; agent: HttpAgentLike }>();
  /** https without certificate checks, for insecure (and loopback) registries that speak TLS. */
  private insecureTls?: HttpAgentLike;
  /** Insecure registries found to speak TLS (true) or only plain http (false), by host:port. */
  private readonly speaksTls = new Map<string, boolean>();
  private readonly userAgent: string;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly challenges = new Map<string, Challenge>();
  private readonly hubOrigin: string | null;

  constructor(private readonly options: RegistryClientOptions) {
    this.userAgent = options.userAgent ?? 'berth/0.1 (docker-compatible)';
    const envOrigin = process.env.BERTH_DOCKER_HUB_ORIGIN;
    const origin = options.dockerHubOrigin !== undefined ? options.dockerHubOrigin : envOrigin === 'none' ? null : envOrigin || DOCKER_HUB_ORIGIN;
    this.hubOrigin = origin ? origin.replace(/\/+$/, '') : null;
  }

  /** New mirrors and insecure registries (daemon.json reloaded on SIGHUP). */
  reconfigure(update: { mirrors?: string[]; insecureRegistries?: string[] }): void {
    if (update.mirrors) this.options.mirrors = update.mirrors;
    if (update.insecureRegistries) this.options.insecureRegistries = update.insecureRegistries;
    this.challenges.clear();
    this.speaksTls.clear();
  }

  /**
   * https:// for registries with a certs.d directory (their CA and client certificate are used)
   * and for everything else that is not loopback or listed in insecure-registries; those use
   * plain http://.
   */
  schemeFor(host: string): 'http' | 'https' {
    if (certsDirFor(this.options.certsDir, host)) return 'https';
    return this.isInsecure(host) ? 'http' : 'https';
  }

  /** Loopback, or listed in insecure-registries (host[:port] or CIDR). */
  private isInsecure(host: string): boolean {
    const { hostname } = splitHostPort(host);
    if (isLoopbackHost(hostname)) return true;
    const bare = hostname.replace(/^\[|\]$/g, '');
    for (const entry of this.options.insecureRegistries ?? []) {
      const e = entry.replace(/^https?:\/\//, '').replace(/\/+$/, '');
      if (e === host || e === hostname) return true;
      if (e.includes('/') && inCidr(bare, e)) return true;
    }
    return false;
  }

  /** Endpoints to try, in order, for a reference's domain. */
  endpointsFor(ref: ImageReference): string[] {
    if (ref.domain === DEFAULT_DOMAIN) {
      const mirrors = (this.options.mirrors ?? []).map((m) => {
        const withScheme = /^https?:\/\//.test(m) ? m : `${this.schemeFor(m.replace(/\/.*$/, ''))}://${m}`;
        const u = new URL(withScheme);
        return `${u.protocol}//${u.host}`;
      });
      return this.hubOrigin ? [...mirrors, this.hubOrigin] : mirrors;
    }
    return [`${this.schemeFor(ref.domain)}://${ref.domain}`];
  }

  /**
   * Docker's rule for insecure registries: https first (certificates not checked), plain http
   * when the registry does not speak TLS. An http:// endpoint chosen by schemeFor is probed once
   * per host with a TLS handshake; endpoints given with an explicit scheme stay as they are.
   */
  private async preferTls(endpoint: string, explicit = false): Promise<string> {
    if (explicit || !endpoint.startsWith('http://')) return endpoint;
    const u = new URL(endpoint);
    let tls = this.speaksTls.get(u.host);
    if (tls === undefined) {
      const answer = await probeTls(u.hostname.replace(/^\[|\]$/g, ''), Number(u.port || 80));
      if (answer === undefined) return endpoint; // nothing listens: the http attempt reports it
      tls = answer;
      this.speaksTls.set(u.host, tls);
    }
    return tls ? `https://${u.host}` : endpoint;
  }

  private async resolvedEndpoints(ref: ImageReference): Promise<string[]> {
    const explicit = new Set((this.options.mirrors ?? []).filter((m) => /^https?:\/\//.test(m)).map((m) => new URL(m).origin));
    return Promise.all(this.endpointsFor(ref).map((e) => this.preferTls(e, explicit.has(e) || e === this.hubOrigin)));
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  /** The connection pool for a URL: a TLS agent with certs.d material, or a shared one. */
  private dispatcherFor(url: string): HttpAgentLike {
    const u = new URL(url);
    if (u.protocol !== 'https:') return this.plain;
    const dir = certsDirFor(this.options.certsDir, u.host);
    if (!dir) {
      if (!this.isInsecure(u.host)) return this.tls;
      this.insecureTls ??= tlsAgent({ rejectUnauthorized: false });
      return this.insecureTls;
    }
    const tls = tlsConnectOptions(dir);
    const cached = this.tlsDispatchers.get(u.host);
    if (cached && cached.key === tls.key) return cached.agent;
    cached?.agent.destroy();
    const agent = tlsAgent(tls.options);
    this.tlsDispatchers.set(u.host, { key: tls.key, agent });
    return agent;
  }

  private async send(
    method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    headers: Headers,
    signal?: AbortSignal,
    body?: Buffer | string | Readable,
  ): Promise<HttpResponse> {
    try {
      return await sendRequest(url, { method, headers: { 'user-agent': this.userAgent, ...headers }, agent: this.dispatcherFor(url), signal, body });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new NetworkError(describeNetworkError(method, url, err), { cause: err });
    }
  }

  // ---- Authentication ------------------------------------------------------------------------

  private credentialKey(auth: RegistryAuth | undefined): string {
    if (!auth) return 'anon';
    if (auth.registrytoken) return `rt:${auth.registrytoken}`;
    if (auth.identitytoken) return `it:${auth.identitytoken}`;
    if (auth.username || auth.password) return `u:${auth.username ?? ''}:${auth.password ?? ''}`;
    return 'anon';
  }

  /** GET /v2/ and remember the endpoint's challenge. */
  private async ping(endpoint: string, signal?: AbortSignal): Promise<Challenge> {
    const url = joinUrl(endpoint, '/v2/');
    const res = await this.send('GET', url, {}, signal);
    await discardBody(res.body);
    let challenge: Challenge;
    if (res.statusCode === 401) {
      challenge = parseChallenge(res.headers['www-authenticate']);
    } else if (res.statusCode >= 200 && res.statusCode < 300) {
      challenge = { scheme: 'none', params: {} };
    } else {
      throw new SystemError(`Get "${url}": unexpected status ${res.statusCode}`);
    }
    this.challenges.set(endpoint, challenge);
    return challenge;
  }

  /** Authorization headers for `scope` on `endpoint` (pinging if the challenge is unknown). */
  private async authHeaders(
    endpoint: string,
    repoPath: string,
    auth: RegistryAuth | undefined,
    signal?: AbortSignal,
    refresh = false,
    scopes: string[] = [`repository:${repoPath}:pull`],
  ): Promise<Headers> {
    if (auth?.registrytoken) return { authorization: `Bearer ${auth.registrytoken}` };
    let challenge = refresh ? undefined : this.challenges.get(endpoint);
    if (!challenge) challenge = await this.ping(endpoint, signal);
    if (challenge.scheme === 'none') return {};
    if (challenge.scheme === 'basic') {
      if (!auth?.username && !auth?.password) return {};
      const basic = `Basic ${Buffer.from(`${auth.username ?? ''}:${auth.password ?? ''}`).toString('base64')}`;
      const key = `basic|${endpoint}|${this.credentialKey(auth)}`;
      if (!refresh && this.tokens.has(key)) return { authorization: basic };
      // Check the credentials once against /v2/ so a wrong password gets docker's wording.
      const url = joinUrl(endpoint, '/v2/');
      const res = await this.send('GET', url, { authorization: basic }, signal);
      const body = await readBody(res.body, 64 * 1024, url).catch(() => Buffer.alloc(0));
      if (res.statusCode === 401 || res.statusCode === 403) {
        const detail = parseErrors(body)[0]?.message;
        const msg = detail && !/authentication required/i.test(detail) ? detail : 'incorrect username or password';
        throw new EndpointError(new UnauthorizedError(`Get "${url}": unauthorized: ${msg}`), false);
      }
      this.tokens.set(key, { token: basic, expiresAt: Number.MAX_SAFE_INTEGER });
      return { authorization: basic };
    }
    const token = await this.bearerToken(endpoint, challenge, scopes.join(' '), auth, signal, refresh);
    return { authorization: `Bearer ${token}` };
  }

  private async bearerToken(
    endpoint: string,
    challenge: Challenge,
    scope: string,
    auth: RegistryAuth | undefined,
    signal: AbortSignal | undefined,
    refresh: boolean,
  ): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) throw new EndpointError(new SystemError(`Get "${joinUrl(endpoint, '/v2/')}": bearer challenge without realm`));
    const service = challenge.params.service;
    const key = `bearer|${realm}|${service ?? ''}|${scope}|${this.credentialKey(auth)}`;
    const cached = this.tokens.get(key);
    if (!refresh && cached && cached.expiresAt > Date.now()) return cached.token;

    let res: HttpResponse;
    let shownUrl: string;
    if (auth?.identitytoken) {
      // OAuth2 refresh-token grant, as docker does after `docker login` with an identity token.
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: auth.identitytoken,
        client_id: 'berth',
        scope,
      });
      if (service) form.set('service', service);
      shownUrl = realm;
      res = await this.send('POST', realm, { 'content-type': 'application/x-www-form-urlencoded' }, signal, form.toString());
    } else {
      const u = new URL(realm);
      if (service) u.searchParams.set('service', service);
      for (const one of scope.split(' ').filter(Boolean)) u.searchParams.append('scope', one);
      shownUrl = u.toString();
      const headers: Headers = {};
      if (auth?.username || auth?.password) {
        headers.authorization = `Basic ${Buffer.from(`${auth.username ?? ''}:${auth.password ?? ''}`).toString('base64')}`;
      }
      res = await this.send('GET', shownUrl, headers, signal);
    }
    const body = await readBody(res.body, 1024 * 1024, shownUrl);
    if (res.statusCode === 401 || res.statusCode === 403) {
      const detail = parseErrors(body)[0]?.message ?? 'incorrect username or password';
      throw new EndpointError(new UnauthorizedError(`Get "${shownUrl}": unauthorized: ${detail}`), false);
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw new EndpointError(new SystemError(`Get "${shownUrl}": token server answered ${res.statusCode}`));
    }
    let parsed: { token?: string; access_token?: string; expires_in?: number };
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new EndpointError(new SystemError(`Get "${shownUrl}": invalid token response`));
    }
    const token = parsed.token || parsed.access_token;
    if (!token) throw new EndpointError(new SystemError(`Get "${shownUrl}": token response without token`));
    const lifetime = Math.max(60, Number(parsed.expires_in) || 60);
    this.tokens.set(key, { token, expiresAt: Date.now() + (lifetime - 10) * 1000 });
    return token;
  }

  /**
   * GET a registry path with authentication; on a 401 the challenge and token are refreshed once.
   * Returns the response with its body unread.
   */
  private async authedGet(
    endpoint: string,
    repoPath: string,
    path: string,
    extra: Headers,
    auth: RegistryAuth | undefined,
    signal?: AbortSignal,
  ): Promise<{ res: HttpResponse; url: string }> {
    const url = joinUrl(endpoint, path);
    let headers = await this.authHeaders(endpoint, repoPath, auth, signal);
    let res = await this.send('GET', url, { ...extra, ...headers }, signal);
    if (res.statusCode === 401) {
      await discardBody(res.body);
      headers = await this.authHeaders(endpoint, repoPath, auth, signal, true);
      res = await this.send('GET', url, { ...extra, ...headers }, signal);
    }
    return { res, url };
  }

  // ---- Manifests -----------------------------------------------------------------------------

  private async fetchManifest(
    endpoint: string,
    ref: ImageReference,
    reference: string,
    expectedDigest: string | undefined,
    auth: RegistryAuth | undefined,
    signal?: AbortSignal,
  ): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const { res, url } = await this.authedGet(
      endpoint,
      ref.path,
      `/v2/${ref.path}/manifests/${reference}`,
      { accept: MANIFEST_ACCEPT },
      auth,
      signal,
    );
    if (res.statusCode !== 200) {
      const body = await readBody(res.body, 1024 * 1024, url).catch(() => Buffer.alloc(0));
      throw new EndpointError(this.manifestError(ref, res.statusCode, parseErrors(body), url));
    }
    const bytes = await readBody(res.body, MAX_MANIFEST_BYTES, url);
    const actual = sha256Digest(bytes);
    const headerDigest = headerValue(res.headers, 'docker-content-digest');
    const expected = expectedDigest ?? (headerDigest && /^sha(256|384|512):/.test(headerDigest) ? headerDigest : undefined);
    if (expected) {
      const got = digestWithAlgorithm(bytes, expected, actual);
      if (expected !== got) {
        throw new EndpointError(new DigestMismatchError(expected, got, `manifest ${familiarName(ref)}@${reference}`));
      }
    }
    let mediaType = (headerValue(res.headers, 'content-type') ?? '').split(';')[0].trim();
    try {
      const j = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown; config?: unknown; schemaVersion?: number };
      if (typeof j.mediaType === 'string' && j.mediaType) mediaType = j.mediaType;
      else if (!isIndexMediaType(mediaType) && !isManifestMediaType(mediaType)) {
        if (Array.isArray(j.manifests)) mediaType = MediaType.ociIndex;
        else if (j.config) mediaType = MediaType.ociManifest;
      }
      if (j.schemaVersion === 1) mediaType = DOCKER_SCHEMA1;
    } catch {
      throw new EndpointError(new SystemError(`${url}: invalid manifest JSON`));
    }
    return { bytes, mediaType, digest: actual };
  }

  private manifestError(ref: ImageReference, status: number, errors: RegistryErrorBody[], url: string): BerthError {
    const code = errors[0]?.code;
    const denied = new NotFoundError(
      `pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`,
    );
    if (status === 404) {
      if (code === 'NAME_UNKNOWN') return denied;
      return new NotFoundError(`manifest for ${familiarString(ref)} not found: manifest unknown: manifest unknown`);
    }
    if (status === 401 || status === 403) {
      if (status === 401 && this.challenges.get(new URL(url).origin)?.scheme === 'basic') {
        return new UnauthorizedError(`Get "${url}": no basic auth credentials`);
      }
      return denied;
    }
    const msg = errors.map((e) => `${(e.code ?? '').toLowerCase().replace(/_/g, ' ')}: ${e.message ?? ''}`).join('; ');
    return new SystemError(`Get "${url}": received unexpected HTTP status: ${status}${msg ? ` (${msg})` : ''}`);
  }

  private async fetchVerifiedBlob(
    endpoint: string,
    ref: ImageReference,
    desc: Descriptor,
    limit: number,
    auth: RegistryAuth | undefined,
    signal?: AbortSignal,
  ): Promise<Buffer> {
    const res = await this.openBlob(endpoint, ref.path, desc, auth, signal);
    const bytes = await readBody(res, limit, joinUrl(endpoint, `/v2/${ref.path}/blobs/${desc.digest}`));
    const actual = sha256Digest(bytes);
    if (actual !== desc.digest) throw new DigestMismatchError(desc.digest, actual, `blob ${desc.digest}`);
    return bytes;
  }

  async resolve(
    ref: ImageReference,
    options: { auth?: RegistryAuth; platform?: Platform; signal?: AbortSignal } = {},
  ): Promise<ResolvedImage> {
    const endpoints = await this.resolvedEndpoints(ref);
    if (endpoints.length === 0) throw new SystemError(`no registry mirror configured for ${familiarString(ref)} and Docker Hub is disabled`);
    let lastError: BerthError | undefined;
    // The most telling answer a mirror gave: if the origin then cannot even be reached (offline
    // machine), "manifest unknown" from a mirror says more than "no such host".
    let mirrorNotFound: BerthError | undefined;
    for (let i = 0; i < endpoints.length; i++) {
      const endpoint = endpoints[i];
      try {
        return await this.resolveAt(endpoint, ref, options);
      } catch (err) {
        if (options.signal?.aborted) throw err;
        const isLast = i === endpoints.length - 1;
        const inner = err instanceof EndpointError ? err.error : err instanceof BerthError ? err : undefined;
        if (!inner) throw err;
        lastError = inner;
        if (isLast && inner instanceof NetworkError && mirrorNotFound) throw mirrorNotFound;
        if (isLast || (err instanceof EndpointError && !err.fallback && !this.isMirror(endpoint, ref))) throw inner;
        if (inner instanceof NotFoundError || inner instanceof UnauthorizedError) mirrorNotFound ??= inner;
        log.warn({ endpoint, err: inner.message }, 'registry endpoint failed, trying the next one');
      }
    }
    throw lastError ?? new SystemError('no registry endpoint');
  }

  private isMirror(endpoint: string, ref: ImageReference): boolean {
    return ref.domain === DEFAULT_DOMAIN && endpoint !== this.hubOrigin;
  }

  private async resolveAt(
    endpoint: string,
    ref: ImageReference,
    options: { auth?: RegistryAuth; platform?: Platform; signal?: AbortSignal },
  ): Promise<ResolvedImage> {
    const { auth, signal } = options;
    const want = options.platform ?? DEFAULT_PLATFORM;
    // Ping first: a dead registry fails here with docker's `Get ".../v2/": dial tcp …` wording.
    try {
      await this.ping(endpoint, signal);
    } catch (err) {
      if (err instanceof BerthError) throw new EndpointError(err);
      throw err;
    }
    const reference = ref.digest ?? ref.tag ?? 'latest';
    const top = await this.fetchManifest(endpoint, ref, reference, ref.digest, auth, signal);
    const repoDigest = top.digest;
    let manifest = top;
    if (isIndexMediaType(top.mediaType)) {
      const index = JSON.parse(top.bytes.toString('utf8')) as ImageIndex;
      const candidates = (index.manifests ?? []).filter(
        (d) => (!d.mediaType || isManifestMediaType(d.mediaType)) && platformMatches(d.platform, want),
      );
      const chosen = candidates[0];
      if (!chosen) {
        throw new EndpointError(
          new NotFoundError(`no matching manifest for ${platformString(want)} in the manifest list entries`),
          false,
        );
      }
      manifest = await this.fetchManifest(endpoint, ref, chosen.digest, chosen.digest, auth, signal);
    }
    if (manifest.mediaType === DOCKER_SCHEMA1) {
      throw new EndpointError(
        new SystemError(
          `[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, schema 1 support is disabled; ${familiarString(ref)} uses it`,
        ),
        false,
      );
    }
    if (!isManifestMediaType(manifest.mediaType)) {
      throw new EndpointError(new SystemError(`unsupported manifest media type ${manifest.mediaType} for ${familiarString(ref)}`), false);
    }
    const parsed = JSON.parse(manifest.bytes.toString('utf8')) as ImageManifest;
    if (!parsed.config?.digest || !Array.isArray(parsed.layers)) {
      throw new EndpointError(new SystemError(`invalid manifest for ${familiarString(ref)}: missing config or layers`), false);
    }
    let configBytes: Buffer;
    try {
      configBytes = await this.fetchVerifiedBlob(endpoint, ref, parsed.config, MAX_CONFIG_BYTES, auth, signal);
    } catch (err) {
      if (err instanceof BerthError) throw new EndpointError(err);
      throw err;
    }
    let config: ImageConfig;
    try {
      config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
    } catch {
      throw new EndpointError(new SystemError(`invalid image config ${parsed.config.digest}`));
    }
    log.debug({ endpoint, ref: familiarString(ref), repoDigest, manifest: manifest.digest }, 'resolved image');
    return {
      ref,
      repoDigest,
      manifestDigest: manifest.digest,
      manifestMediaType: manifest.mediaType,
      manifestBytes: manifest.bytes,
      manifest: parsed,
      configDescriptor: parsed.config,
      configBytes,
      config,
      endpoint,
    };
  }

  // ---- Push and login (used by src/registry/push.ts and POST /auth) ---------------------------

  /** Where a push of `ref` goes: the registry itself (never a mirror). */
  async pushEndpoint(ref: ImageReference): Promise<string> {
    if (ref.domain === DEFAULT_DOMAIN) {
      if (!this.hubOrigin) throw new SystemError(`pushing to Docker Hub is disabled (no Docker Hub origin configured)`);
      return this.hubOrigin;
    }
    return this.preferTls(`${this.schemeFor(ref.domain)}://${ref.domain}`);
  }

  /**
   * One authenticated request to a registry with the token scopes given (e.g. pull,push). A 401
   * refreshes the credentials once and retries when the body can be made again. Credentials go
   * only to the registry's own origin. The answer's body is read (up to 1 MiB).
   */
  async request(req: RegistryRequest): Promise<RegistryResponse> {
    const endpoint = req.endpoint;
    const url = /^https?:\/\//.test(req.path) ? new URL(req.path) : new URL(joinUrl(endpoint, req.path));
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const sameOrigin = url.origin === new URL(endpoint).origin;
    const attempt = async (refresh: boolean) => {
      let auth: Headers = {};
      try {
        if (sameOrigin) auth = await this.authHeaders(endpoint, req.repoPath, req.auth, req.signal, refresh, req.scopes);
      } catch (err) {
        if (err instanceof EndpointError) throw err.error;
        throw err;
      }
      const body = typeof req.body === 'function' ? req.body() : req.body;
      return this.send(req.method, url.toString(), { ...req.headers, ...auth }, req.signal, body);
    };
    let res = await attempt(false);
    if (res.statusCode === 401 && sameOrigin && (req.body === undefined || typeof req.body === 'function')) {
      await discardBody(res.body);
      res = await attempt(true);
    }
    const body = req.method === 'HEAD' ? Buffer.alloc(0) : await readBody(res.body, 1024 * 1024, url.toString()).catch(() => Buffer.alloc(0));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v[0] : v;
    const errors = parseErrors(body);
    return { status: res.statusCode, headers, body, url: url.toString(), errors };
  }

  /**
   * Check credentials the way `docker login` does: ping /v2/, then Basic against /v2/ or a token
   * (no scope) from the realm. Throws UnauthorizedError with the registry's words when refused.
   */
  async login(serverAddress: string, auth: RegistryAuth, signal?: AbortSignal): Promise<void> {
    const endpoint = await this.loginEndpoint(serverAddress);
    this.tokens.clear();
    const challenge = await this.ping(endpoint, signal);
    try {
      if (challenge.scheme === 'basic') {
        if (!auth.username && !auth.password) throw new UnauthorizedError(`Get "${joinUrl(endpoint, '/v2/')}": no basic auth credentials`);
        await this.authHeaders(endpoint, '', auth, signal, true, []);
      } else if (challenge.scheme === 'bearer') {
        await this.bearerToken(endpoint, challenge, '', auth, signal, true);
      }
    } catch (err) {
      if (err instanceof EndpointError) throw err.error;
      throw err;
    }
  }

  private async loginEndpoint(serverAddress: string): Promise<string> {
    const raw = serverAddress.trim().replace(/\/+$/, '');
    const host = raw.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    if (!host || /(^|\.)docker\.io$/.test(host)) {
      if (!this.hubOrigin) throw new SystemError('Docker Hub is disabled (no Docker Hub origin configured)');
      return this.hubOrigin;
    }
    if (/^https?:\/\//.test(raw)) return new URL(raw).origin;
    return this.preferTls(`${this.schemeFor(host)}://${host}`);
  }

  // ---- Blobs ---------------------------------------------------------------------------------

  /** GET a blob following redirects (credentials only go to the registry's own origin). */
  private async openBlob(
    endpoint: string,
    repoPath: string,
    desc: Descriptor,
    auth: RegistryAuth | undefined,
    signal?: AbortSignal,
  ): Promise<HttpResponse['body']> {
    const first = await this.authedGet(endpoint, repoPath, `/v2/${repoPath}/blobs/${desc.digest}`, {}, auth, signal);
    let { res, url } = first;
    const origin = new URL(endpoint).origin;
    for (let hops = 0; res.statusCode >= 300 && res.statusCode < 400; hops++) {
      const location = headerValue(res.headers, 'location');
      await discardBody(res.body);
      if (!location || hops >= MAX_REDIRECTS) throw new SystemError(`Get "${url}": too many redirects or no Location`);
      const next = new URL(location, url).toString();
      const headers = new URL(next).origin === origin ? await this.authHeaders(endpoint, repoPath, auth, signal) : {};
      url = next;
      res = await this.send('GET', url, headers, signal);
    }
    if (res.statusCode !== 200) {
      const body = await readBody(res.body, 64 * 1024, url).catch(() => Buffer.alloc(0));
      const errs = parseErrors(body);
      if (res.statusCode === 404) {
        throw new NotFoundError(`blob ${desc.digest} not found in ${repoPath}: blob unknown: blob unknown to registry`);
      }
      if (res.statusCode === 401 || res.statusCode === 403) {
        throw new UnauthorizedError(`Get "${url}": unauthorized: ${errs[0]?.message ?? 'authentication required'}`);
      }
      throw new SystemError(`Get "${url}": received unexpected HTTP status: ${res.statusCode}`);
    }
    return res.body;
  }

  async fetchBlob(
    image: ResolvedImage,
    descriptor: Descriptor,
    options: { auth?: RegistryAuth; signal?: AbortSignal } = {},
  ): Promise<Readable> {
    try {
      return await this.openBlob(image.endpoint, image.ref.path, descriptor, options.auth, options.signal);
    } catch (err) {
      if (err instanceof EndpointError) throw err.error;
      throw err;
    }
  }
}
