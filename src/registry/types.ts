// The contract between the registry client (src/registry) and its users (src/images pull).
import type { Readable } from 'node:stream';
import type { Descriptor, ImageConfig, ImageManifest, Platform } from '../images/oci.js';

/** A parsed, normalised image reference, as docker's reference library produces it. */
export interface ImageReference {
  /** Registry host[:port], normalised: "docker.io" for Docker Hub. */
  domain: string;
  /** Repository path, normalised: "library/busybox" for official Docker Hub images. */
  path: string;
  /** Tag, if given or defaulted ("latest" when neither tag nor digest was given). */
  tag?: string;
  /** "sha256:<hex>" if the reference pins a digest. */
  digest?: string;
}

/** Credentials as the Engine API's X-Registry-Auth header carries them. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  /** OAuth refresh token (docker login with identity token). */
  identitytoken?: string;
  /** A bearer token to send as-is. */
  registrytoken?: string;
  serveraddress?: string;
}

export interface RegistryClientOptions {
  /** Mirrors for docker.io, tried in order before the origin, e.g. "http://127.0.0.1:5000". */
  mirrors: string[];
  /** host[:port] entries (or CIDRs) reached over plain HTTP; loopback hosts always are. */
  insecureRegistries: string[];
  /** Override the user agent, for logs on the registry side. */
  userAgent?: string;
  /**
   * Docker Hub origin tried after the mirrors (default "https://registry-1.docker.io", or the
   * BERTH_DOCKER_HUB_ORIGIN environment variable); null (or the variable set to "none") means
   * mirrors only, e.g. offline machines and tests.
   */
  dockerHubOrigin?: string | null;
  /** Per-registry TLS material, docker's certs.d layout: <certsDir>/<host:port>/{*.crt,*.cert,*.key}. */
  certsDir?: string;
}

/** What a pull needs to know once the manifest is resolved for one platform. */
export interface ResolvedImage {
  /** The reference as asked for (normalised). */
  ref: ImageReference;
  /** Digest of the top-level manifest the tag pointed at (index or manifest): docker's RepoDigest. */
  repoDigest: string;
  /** Digest and raw bytes of the platform manifest actually used. */
  manifestDigest: string;
  manifestMediaType: string;
  manifestBytes: Buffer;
  manifest: ImageManifest;
  /** Config descriptor, its verified raw bytes, and parsed content. */
  configDescriptor: Descriptor;
  configBytes: Buffer;
  config: ImageConfig;
  /** Where the blobs were found (a mirror or the origin), for fetchBlob. */
  endpoint: string;
}

export interface RegistryClient {
  /**
   * Resolve a reference to one platform's manifest and config (both verified against their digests).
   * Errors: NotFoundError with docker's wording for unknown repository/tag ("manifest unknown"),
   * UnauthorizedError for refused credentials, SystemError when the registry is unreachable.
   */
  resolve(ref: ImageReference, options?: { auth?: RegistryAuth; platform?: Platform; signal?: AbortSignal }): Promise<ResolvedImage>;
  /**
   * Open a blob of a resolved image as a stream of its raw (compressed) bytes. The stream is NOT
   * verified here: the caller hashes it while storing it (ContentStore) and rejects a mismatch.
   */
  fetchBlob(image: ResolvedImage, descriptor: Descriptor, options?: { auth?: RegistryAuth; signal?: AbortSignal }): Promise<Readable>;
}

/** One authenticated registry request (push side): see HttpRegistryClient.request. */
export interface RegistryRequest {
  /** The registry origin, e.g. "https://127.0.0.1:5000" (from pushEndpoint). */
  endpoint: string;
  /** Repository path the token scopes belong to. */
  repoPath: string;
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** A path under the endpoint ("/v2/…") or an absolute URL (an upload Location). */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** A Buffer or stream; a function that makes the body again lets a 401 be retried. */
  body?: Buffer | string | Readable | (() => Buffer | string | Readable);
  /** Bearer token scopes, e.g. ["repository:a/b:pull,push", "repository:c/d:pull"]. */
  scopes: string[];
  auth?: RegistryAuth;
  signal?: AbortSignal;
}

export interface RegistryResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  url: string;
  /** The distribution error list of the body, if any. */
  errors: Array<{ code?: string; message?: string; detail?: unknown }>;
}

/** The push-side surface of the HTTP client. */
export interface PushTransport {
  pushEndpoint(ref: ImageReference): Promise<string>;
  request(req: RegistryRequest): Promise<RegistryResponse>;
  login(serverAddress: string, auth: RegistryAuth, signal?: AbortSignal): Promise<void>;
  reconfigure(update: { mirrors?: string[]; insecureRegistries?: string[] }): void;
}
