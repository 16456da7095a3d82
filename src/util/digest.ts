import { createHash } from 'node:crypto';
import { InvalidParameterError } from './errors.js';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): boolean {
  return DIGEST_RE.test(value);
}

export function assertDigest(value: string, what = 'digest'): string {
  if (!isDigest(value)) throw new InvalidParameterError(`invalid ${what}: ${JSON.stringify(value)}`);
  return value;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256Digest(data: string | Buffer): string {
  return `sha256:${sha256Hex(data)}`;
}

export function digestHex(digest: string): string {
  return assertDigest(digest).slice('sha256:'.length);
}

/** OCI chain ID: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? diffId : sha256Digest(`${prev} ${diffId}`));
  }
  return out;
}
