// The push side of the OCI distribution API (reference/oci/distribution-spec/spec.md, "Push"):
// blob existence (HEAD), cross-repository mounts (POST ?mount=&from=), monolithic uploads
// (POST, then PUT ?digest= with the body) and chunked uploads (POST, PATCH with Content-Range per
// chunk, PUT ?digest=), and manifests PUT with their exact bytes and media type.
import { Transform, type Readable } from 'node:stream';
import { BerthError, DigestMismatchError, NotFoundError, SystemError, UnauthorizedError } from '../util/errors.js';
import { sha256Digest } from '../util/digest.js';
import type { ImageReference, PushTransport, RegistryAuth, RegistryResponse } from './types.js';

/** Blobs larger than this go up in PATCH chunks of this size; smaller ones in one PUT. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;

export interface BlobSource {
  digest: string;
  size: number;
  /** The stored bytes from `start` to `end` inclusive (whole blob when omitted). */
  open(start?: number, end?: number): Readable;
}

export interface PushTarget {
  transport: PushTransport;
  endpoint: string;
  ref: ImageReference;
  auth?: RegistryAuth;
  signal?: AbortSignal;
}

/** Token scopes for pushing into the target (plus pulling from `from`, for a mount). */
function scopes(t: PushTarget, from?: string): string[] {
  const s = [`repository:${t.ref.path}:pull,push`];
  if (from && from !== t.ref.path) s.push(`repository:${from}:pull`);
  return s;
}

/** docker's wording for a registry's error answer: "denied: requested access to the resource is denied". */
export function registryError(res: RegistryResponse, what: string): BerthError {
  const parts = res.errors.map((e) => `${(e.code ?? 'unknown').toLowerCase().replace(/_/g, ' ')}: ${e.message ?? ''}`.trim());
  const text = parts.join('; ');
  if (res.status === 401 || res.status === 403) {
    return new UnauthorizedError(text || (res.status === 401 ? 'unauthorized: authentication required' : 'denied: requested access to the resource is denied'));
  }
  if (res.status === 404 && text) return new NotFoundError(text);
  const method = what.split(' ')[0];
  return new SystemError(text || `${method} "${res.url}": unexpected status ${res.status} ${what.slice(method.length + 1)}`.trim());
}

export async function blobExists(t: PushTarget, digest: string): Promise<boolean> {
  const res = await t.transport.request({
    endpoint: t.endpoint,
    repoPath: t.ref.path,
    method: 'HEAD',
    path: `/v2/${t.ref.path}/blobs/${digest}`,
    scopes: scopes(t),
    auth: t.auth,
    signal: t.signal,
  });
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  throw registryError(res, `HEAD blob ${digest}`);
}

function location(res: RegistryResponse, what: string): string {
  const loc = res.headers.location;
  if (!loc) throw new SystemError(`${what}: registry answered ${res.status} without a Location`);
  return new URL(loc, res.url).toString();
}

/**
 * Start an upload; with `from`, ask for a cross-repository mount first. Returns 'mounted' when
 * the registry linked the blob (201), else the upload URL.
 */
export async function startUpload(t: PushTarget, digest?: string, from?: string): Promise<'mounted' | string> {
  const res = await t.transport.request({
    endpoint: t.endpoint,
    repoPath: t.ref.path,
    method: 'POST',
    path: `/v2/${t.ref.path}/blobs/uploads/`,
    query: digest && from ? { mount: digest, from } : undefined,
    headers: { 'content-length': '0' },
    body: () => '',
    scopes: scopes(t, from),
    auth: t.auth,
    signal: t.signal,
  });
  if (res.status === 201 && digest && from) return 'mounted';
  if (res.status === 202) return location(res, 'POST upload');
  throw registryError(res, 'POST blob upload');
}

function counting(source: Readable, onBytes: (n: number) => void): Readable {
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
  source.on('error', (err) => counter.destroy(err));
  return source.pipe(counter);
}

/**
 * Upload `blob` to `uploadUrl`: one PUT when it fits in a chunk, else PATCH chunks then PUT.
 * `onBytes` gets the bytes sent so far.
 */
export async function uploadBlob(
  t: PushTarget,
  uploadUrl: string,
  blob: BlobSource,
  onBytes: (sent: number) => void,
  chunkSize = DEFAULT_CHUNK_SIZE,
): Promise<void> {
  let url = uploadUrl;
  let sent = 0;
  const base = { endpoint: t.endpoint, repoPath: t.ref.path, scopes: scopes(t), auth: t.auth, signal: t.signal };
  const withDigest = (u: string) => {
    const x = new URL(u);
    x.searchParams.set('digest', blob.digest);
    return x.toString();
  };
  if (blob.size <= chunkSize) {
    const res = await t.transport.request({
      ...base,
      method: 'PUT',
      path: withDigest(url),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
      body: counting(blob.open(), (n) => onBytes((sent += n))),
    });
    if (res.status !== 201) throw registryError(res, `PUT blob ${blob.digest}`);
    return;
  }
  for (let start = 0; start < blob.size; start += chunkSize) {
    const end = Math.min(blob.size, start + chunkSize) - 1;
    const res = await t.transport.request({
      ...base,
      method: 'PATCH',
      path: url,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(end - start + 1),
        'content-range': `${start}-${end}`,
      },
      body: counting(blob.open(start, end), (n) => onBytes((sent += n))),
    });
    if (res.status !== 202) throw registryError(res, `PATCH blob ${blob.digest}`);
    url = location(res, 'PATCH upload');
  }
  const res = await t.transport.request({ ...base, method: 'PUT', path: withDigest(url), headers: { 'content-length': '0' }, body: () => '' });
  if (res.status !== 201) throw registryError(res, `PUT blob ${blob.digest}`);
}

/** PUT a manifest in its exact bytes; returns its digest (checked against the registry's). */
export async function putManifest(t: PushTarget, reference: string, mediaType: string, bytes: Buffer): Promise<string> {
  const digest = sha256Digest(bytes);
  const res = await t.transport.request({
    endpoint: t.endpoint,
    repoPath: t.ref.path,
    method: 'PUT',
    path: `/v2/${t.ref.path}/manifests/${reference}`,
    headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
    body: () => bytes,
    scopes: scopes(t),
    auth: t.auth,
    signal: t.signal,
  });
  if (res.status !== 201 && res.status !== 200) throw registryError(res, `PUT manifest ${reference}`);
  const theirs = res.headers['docker-content-digest'];
  if (theirs && theirs !== digest) throw new DigestMismatchError(digest, theirs, `manifest pushed to ${t.ref.domain}/${t.ref.path}`);
  return digest;
}
