// Human output exactly as the docker CLI prints it: go-units sizes and durations, Go's tabwriter
// alignment, strconv.Quote, stringid truncation. Pure functions, so they can be unit-tested against
// strings taken from real docker output.

import { formatG, humanDuration, humanSizeWithPrecision } from '../util/human.js';

// Sizes and durations live in util/human.ts, shared with the daemon (ps Status, pull progress).
export { formatG, humanDuration, humanSize, humanSizeWithPrecision } from '../util/human.js';

/** "3 minutes ago" for a unix-seconds timestamp, as docker's CREATED column. */
export function since(unixSeconds: number, nowMs = Date.now()): string {
  return `${humanDuration(nowMs - unixSeconds * 1000)} ago`;
}

/** stringid.TruncateID: strip an algorithm prefix, keep 12 characters. */
export function truncateId(id: string): string {
  const i = id.indexOf(':');
  const hex = i >= 0 ? id.slice(i + 1) : id;
  return hex.length > 12 ? hex.slice(0, 12) : hex;
}

/** Display width in runes, as Go's tabwriter counts (it works on UTF-8 runes, not bytes). */
function runeWidth(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** formatter.Ellipsis for ASCII/simple text: keep maxWidth-1 runes and add "…". */
export function ellipsis(s: string, maxWidth: number): string {
  if (maxWidth <= 0) return '';
  const runes = [...s];
  if (maxWidth === 1) return runes[0] ?? '';
  if (runes.length <= maxWidth) return s;
  return runes.slice(0, maxWidth - 1).join('') + '…';
}

/** Go's strconv.Quote: double quotes, Go escapes for control characters, printable Unicode kept. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    switch (ch) {
      case '"': out += '\\"'; continue;
      case '\\': out += '\\\\'; continue;
      case '\x07': out += '\\a'; continue;
      case '\b': out += '\\b'; continue;
      case '\f': out += '\\f'; continue;
      case '\n': out += '\\n'; continue;
      case '\r': out += '\\r'; continue;
      case '\t': out += '\\t'; continue;
      case '\v': out += '\\v'; continue;
    }
    if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c >= 0x80 && c < 0xa0) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out + '"';
}

/**
 * Go's text/tabwriter as docker configures it (minwidth 10, tabwidth 1, padding 3, ' '): every
 * cell but the last of a row is padded to the widest cell of its column plus 3, at least 10.
 */
export function table(rows: string[][], opts: { minWidth?: number; padding?: number } = {}): string {
  const minWidth = opts.minWidth ?? 10;
  const padding = opts.padding ?? 3;
  const widths: number[] = [];
  for (const row of rows) {
    for (let i = 0; i < row.length - 1; i++) {
      widths[i] = Math.max(widths[i] ?? minWidth, runeWidth(row[i]) + padding);
    }
  }
  let out = '';
  for (const row of rows) {
    let line = '';
    for (let i = 0; i < row.length; i++) {
      const cell = row[i];
      line += i < row.length - 1 ? cell + ' '.repeat(widths[i] - runeWidth(cell)) : cell;
    }
    out += line + '\n';
  }
  return out;
}

export interface Port {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

/** formatter.DisplayablePorts, without docker's grouping of consecutive ports into ranges. */
export function displayablePorts(ports: Port[] | null | undefined): string {
  if (!ports || ports.length === 0) return '';
  const out = ports
    .slice()
    .sort((a, b) => a.PrivatePort - b.PrivatePort || (a.PublicPort ?? 0) - (b.PublicPort ?? 0))
    .map((p) => {
      if (p.PublicPort) {
        const ip = p.IP ?? '';
        const host = ip.includes(':') ? `[${ip}]` : ip;
        return `${host}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`;
      }
      return `${p.PrivatePort}/${p.Type}`;
    });
  return [...new Set(out)].join(', ');
}

// ---- image references (distribution/reference's normalisation, enough for the CLI) ----

export interface ParsedRef {
  /** Full name with registry: "docker.io/library/busybox". */
  name: string;
  tag?: string;
  digest?: string;
}

function splitDomain(name: string): [string, string] {
  const i = name.indexOf('/');
  if (i === -1) return ['docker.io', `library/${name}`];
  const first = name.slice(0, i);
  if (!first.includes('.') && !first.includes(':') && first !== 'localhost' && first.toLowerCase() === first) {
    return ['docker.io', name];
  }
  const domain = first === 'index.docker.io' ? 'docker.io' : first;
  let rest = name.slice(i + 1);
  if (domain === 'docker.io' && !rest.includes('/')) rest = `library/${rest}`;
  return [domain, rest];
}

/** reference.ParseNormalizedNamed, loosely: lowercase check is left to the daemon. */
export function parseNormalizedNamed(ref: string): ParsedRef {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const [domain, path] = splitDomain(rest);
  return { name: `${domain}/${path}`, tag, digest };
}

/** reference.FamiliarName: "docker.io/library/busybox" -> "busybox". */
export function familiarName(name: string): string {
  if (name.startsWith('docker.io/')) {
    const rest = name.slice('docker.io/'.length);
    return rest.startsWith('library/') && rest.split('/').length === 2 ? rest.slice('library/'.length) : rest;
  }
  return name;
}

export function refString(ref: ParsedRef, familiar: boolean): string {
  let s = familiar ? familiarName(ref.name) : ref.name;
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

// ---- docker-shaped rows ----

export interface ImageSummary {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Created: number;
  Size: number;
}

export interface ImageListOptions {
  quiet?: boolean;
  noTrunc?: boolean;
  digests?: boolean;
  now?: number;
}

function isDangling(img: ImageSummary): boolean {
  const tags = img.RepoTags ?? [];
  const digests = img.RepoDigests ?? [];
  if (tags.length === 0 && digests.length === 0) return true;
  return (tags.length === 1 && tags[0] === '<none>:<none>') && (digests.length === 0 || (digests.length === 1 && digests[0] === '<none>@<none>'));
}

/** `docker images` rows: one per repository:tag (and digest with --digests), as formatter.imageFormat. */
export function imageRows(images: ImageSummary[], opts: ImageListOptions = {}): string {
  const now = opts.now ?? Date.now();
  const id = (img: ImageSummary) => (opts.noTrunc ? img.Id : truncateId(img.Id));
  if (opts.quiet) {
    // docker prints one ID per row; list.go collapses duplicates of the same image.
    const seen = new Set<string>();
    const out: string[] = [];
    for (const img of images) {
      if (seen.has(img.Id)) continue;
      seen.add(img.Id);
      out.push(id(img));
    }
    return out.map((l) => l + '\n').join('');
  }
  const rows: string[][] = [];
  const header = opts.digests ? ['REPOSITORY', 'TAG', 'DIGEST', 'IMAGE ID', 'CREATED', 'SIZE'] : ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'];
  rows.push(header);
  const push = (img: ImageSummary, repo: string, tag: string, digest: string) => {
    const created = img.Created ? since(img.Created, now) : 'N/A';
    const size = humanSizeWithPrecision(img.Size, 3);
    rows.push(opts.digests ? [repo, tag, digest, id(img), created, size] : [repo, tag, id(img), created, size]);
  };
  for (const img of images) {
    if (isDangling(img)) {
      push(img, '<none>', '<none>', '<none>');
      continue;
    }
    const repoTags = new Map<string, string[]>();
    const repoDigests = new Map<string, string[]>();
    for (const t of img.RepoTags ?? []) {
      const r = parseNormalizedNamed(t);
      if (!r.tag || r.digest) continue;
      const fam = familiarName(r.name);
      repoTags.set(fam, [...(repoTags.get(fam) ?? []), r.tag]);
    }
    for (const d of img.RepoDigests ?? []) {
      const r = parseNormalizedNamed(d);
      if (!r.digest) continue;
      const fam = familiarName(r.name);
      repoDigests.set(fam, [...(repoDigests.get(fam) ?? []), r.digest]);
    }
    for (const [repo, tags] of repoTags) {
      const digests = opts.digests ? (repoDigests.get(repo) ?? []) : [];
      repoDigests.delete(repo);
      for (const tag of tags) {
        if (digests.length === 0) push(img, repo, tag, '<none>');
        else for (const d of digests) push(img, repo, tag, d);
      }
    }
    for (const [repo, digests] of repoDigests) {
      if (opts.digests) for (const d of digests) push(img, repo, '<none>', d);
      else push(img, repo, '<none>', '');
    }
  }
  return table(rows);
}

export interface ContainerSummary {
  Id: string;
  Names?: string[] | null;
  Image: string;
  ImageID?: string;
  Command: string;
  Created: number;
  Ports?: Port[] | null;
  State?: string;
  Status: string;
}

/** formatter.ContainerContext.Image with truncation: familiar name, digest dropped. */
function containerImage(c: ContainerSummary, trunc: boolean): string {
  if (!c.Image) return '<no image>';
  if (!trunc) return c.Image;
  if (c.ImageID && truncateId(c.ImageID) === truncateId(c.Image)) return truncateId(c.Image);
  if (/^(sha256:)?[0-9a-f]{64}$/.test(c.Image)) return c.Image;
  const r = parseNormalizedNamed(c.Image);
  return refString({ name: r.name, tag: r.tag }, true);
}

function containerNames(c: ContainerSummary, trunc: boolean): string {
  const names = (c.Names ?? []).map((n) => n.slice(1));
  if (trunc) {
    const plain = names.find((n) => !n.includes('/'));
    if (plain !== undefined) return plain;
  }
  return names.join(',');
}

/** `docker ps` table (or IDs with -q). */
export function containerRows(list: ContainerSummary[], opts: { quiet?: boolean; noTrunc?: boolean; now?: number } = {}): string {
  const trunc = !opts.noTrunc;
  const now = opts.now ?? Date.now();
  if (opts.quiet) return list.map((c) => (trunc ? truncateId(c.Id) : c.Id) + '\n').join('');
  const rows: string[][] = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']];
  for (const c of list) {
    rows.push([
      trunc ? truncateId(c.Id) : c.Id,
      containerImage(c, trunc),
      goQuote(trunc ? ellipsis(c.Command ?? '', 20) : (c.Command ?? '')),
      since(c.Created, now),
      c.Status,
      displayablePorts(c.Ports),
      containerNames(c, trunc),
    ]);
  }
  return table(rows);
}

/**
 * docker inspect's output: json.MarshalIndent(v, "", "    ") with HTML escaping turned off
 * (docker 28 prints `&&` as is), which JSON.stringify with 4 spaces reproduces.
 */
export function goJsonIndent(v: unknown): string {
  return JSON.stringify(v, null, 4) ?? 'null';
}

/** `{{json .X}}`: compact JSON, no HTML escaping (as docker's template func). */
export function goJson(v: unknown): string {
  return JSON.stringify(v) ?? 'null';
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** go-units BytesSize: 1024-based, 4 significant digits ("7.451GiB"), as docker info's Total Memory. */
export function bytesSize(size: number): string {
  let v = size;
  let i = 0;
  while (v >= 1024 && i < BINARY_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${formatG(v, 4)}${BINARY_UNITS[i]}`;
}
