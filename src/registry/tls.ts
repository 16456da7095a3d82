// Per-registry TLS material in docker's certs.d layout (/etc/docker/certs.d works the same way):
//   <certsDir>/<host[:port]>/*.crt              CA certificates trusted for that registry (with the system roots)
//   <certsDir>/<host[:port]>/<name>.cert + .key a client certificate and its key
// A registry with such a directory is always reached over https, verified against those CAs.
// The default directory is /etc/berth/certs.d; berthd's --certs-dir (or $BERTH_CERTS_DIR) moves it,
// so tests never write to /etc.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { InvalidParameterError } from '../util/errors.js';

export const DEFAULT_CERTS_DIR = '/etc/berth/certs.d';

export function defaultCertsDir(): string {
  return process.env.BERTH_CERTS_DIR || DEFAULT_CERTS_DIR;
}

/** The certs.d directory of `host` ("host:port" as in the image reference), if there is one. */
export function certsDirFor(certsDir: string | undefined, host: string): string | undefined {
  const dir = join(certsDir ?? defaultCertsDir(), host);
  try {
    return statSync(dir).isDirectory() ? dir : undefined;
  } catch {
    return undefined;
  }
}

export interface TlsMaterial {
  /** Changes when a file in the directory changes, so agents are rebuilt after an edit. */
  key: string;
  options: { ca?: string[]; cert?: string; key?: string; servername?: string };
}

/** Read a certs.d directory as dockerd does: *.crt are CAs, each *.cert needs its *.key. */
export function tlsConnectOptions(dir: string): TlsMaterial {
  const names = readdirSync(dir).sort();
  const ca: string[] = [];
  let cert: string | undefined;
  let key: string | undefined;
  const stamp: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    if (name.endsWith('.crt')) {
      ca.push(readFileSync(path, 'utf8'));
    } else if (name.endsWith('.cert')) {
      const keyName = name.slice(0, -'.cert'.length) + '.key';
      if (!names.includes(keyName)) throw new InvalidParameterError(`missing key ${keyName} for client certificate ${name}`);
      cert = readFileSync(path, 'utf8');
      key = readFileSync(join(dir, keyName), 'utf8');
    } else if (name.endsWith('.key')) {
      const certName = name.slice(0, -'.key'.length) + '.cert';
      if (!names.includes(certName)) throw new InvalidParameterError(`missing client certificate ${certName} for key ${name}`);
    } else {
      continue;
    }
    try {
      stamp.push(`${name}:${statSync(path).mtimeMs}`);
    } catch {
      /* raced with a removal: the next request rebuilds */
    }
  }
  const options: TlsMaterial['options'] = {};
  if (ca.length) options.ca = [...rootCertificates, ...ca];
  if (cert && key) {
    options.cert = cert;
    options.key = key;
  }
  return { key: stamp.join('|'), options };
}
