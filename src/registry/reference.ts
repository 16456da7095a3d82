// Image references, normalised the way docker does it (the grammar of the distribution
// reference library: ParseNormalizedNamed followed by TagNameOnly).
//
//   busybox                      -> docker.io/library/busybox:latest
//   user/repo                    -> docker.io/user/repo:latest
//   127.0.0.1:5000/ns/repo:v1    -> 127.0.0.1:5000/ns/repo:v1
//   repo@sha256:<hex>            -> docker.io/library/repo@sha256:<hex> (no default tag)
import { InvalidParameterError } from '../util/errors.js';
import type { ImageReference } from './types.js';

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
const NAME_TOTAL_LENGTH_MAX = 255;

// Grammar pieces (written from the published grammar, not copied).
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const HOST = `(?:${DOMAIN_NAME}|${IPV6})`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const DIGEST_RE = new RegExp(`^${DIGEST}$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;
// go-digest's registered algorithms and their hex lengths.
const DIGEST_ALGORITHMS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

function invalid(detail?: string): InvalidParameterError {
  return new InvalidParameterError(detail ? `invalid reference format: ${detail}` : 'invalid reference format');
}

/** Split "host/rest" into domain and remainder following docker's domain heuristic. */
function splitDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf('/');
  let domain: string;
  let remainder: string;
  const first = i === -1 ? '' : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

/** go-digest's Validate, with its messages (docker prints them bare, without a prefix). */
function validateDigest(digest: string): void {
  const i = digest.indexOf(':');
  if (i <= 0 || i + 1 === digest.length) throw new InvalidParameterError('invalid checksum digest format');
  const algorithm = digest.slice(0, i);
  const encoded = digest.slice(i + 1);
  const hexLength = DIGEST_ALGORITHMS[algorithm];
  if (hexLength === undefined) {
    throw new InvalidParameterError(DIGEST_RE.test(digest) ? 'unsupported digest algorithm' : 'invalid checksum digest format');
  }
  if (encoded.length !== hexLength) throw new InvalidParameterError('invalid checksum digest length');
  if (!/^[a-f0-9]+$/.test(encoded)) throw new InvalidParameterError('invalid checksum digest format');
}

function parse(s: string, defaultTag: boolean): ImageReference {
  if (typeof s !== 'string') throw invalid();
  if (IDENTIFIER_RE.test(s)) {
    throw new InvalidParameterError(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const { domain, remainder } = splitDomain(s);

  // Docker checks case on everything before the first ':' of the remainder, so with a digest and
  // no tag the "repository name" it prints includes "@sha256"; reproduced on purpose.
  const tagSep = remainder.indexOf(':');
  const remote = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
  if (remote.toLowerCase() !== remote) throw invalid(`repository name (${remote}) must be lowercase`);

  let rest = remainder;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw invalid();
  }
  let tag: string | undefined;
  // A tag separator is a ':' after the last '/' (the domain has already been split off).
  const colon = rest.lastIndexOf(':');
  if (colon !== -1 && colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw invalid();
  }
  const path = rest;
  if (!DOMAIN_RE.test(domain) || !PATH_RE.test(path)) throw invalid();
  // The grammar is checked before the length and the digest's content, as docker does.
  if (domain.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) {
    throw new InvalidParameterError(`repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  if (digest !== undefined) validateDigest(digest);
  if (defaultTag && tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  const ref: ImageReference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/**
 * Parse and normalise an image reference (docker's ParseNormalizedNamed + TagNameOnly): a
 * reference with neither tag nor digest gets "latest". Throws InvalidParameterError with docker's
 * messages. A digest of another algorithm than sha256 (sha384, sha512) parses, as in docker.
 */
export function parseReference(s: string): ImageReference {
  return parse(s, true);
}

/** parseReference without the defaulted tag: "busybox" has neither tag nor digest. */
export function parseReferenceNoDefault(s: string): ImageReference {
  return parse(s, false);
}

/** "docker.io/library/busybox:latest", "host:5000/repo@sha256:…", "docker.io/library/x:t@sha256:…". */
export function canonicalString(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The short name docker shows: "busybox", "user/repo", "127.0.0.1:5000/foo". */
export function familiarName(ref: ImageReference): string {
  if (ref.domain === DEFAULT_DOMAIN) {
    if (ref.path.startsWith(OFFICIAL_REPO_PREFIX) && ref.path.indexOf('/', OFFICIAL_REPO_PREFIX.length) === -1) {
      return ref.path.slice(OFFICIAL_REPO_PREFIX.length);
    }
    return ref.path;
  }
  return `${ref.domain}/${ref.path}`;
}

/** familiarName + ":tag" (if any) + "@digest" (if any). */
export function familiarString(ref: ImageReference): string {
  return `${familiarName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The repository without tag or digest, fully qualified: "docker.io/library/busybox". */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}
