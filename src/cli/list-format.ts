// `--format` for ps and images, as docker's cli/command/formatter does it: a Go-template subset
// (see ./template.ts) run against a per-row "context" whose fields are docker's display strings,
// a `table` prefix that adds a header row (docker's header names) and aligns the columns with
// Go's text/tabwriter, `json` as a shortcut for `{{json .}}`, and `\t` / `\n` escapes.
// Pure: the clock and time zone are parameters so tests can pin them.
import {
  displayablePorts,
  ellipsis,
  familiarName,
  goQuote,
  humanDuration,
  humanSizeWithPrecision,
  parseNormalizedNamed,
  refString,
  truncateId,
  type ContainerSummary,
  type ImageSummary,
} from './format.js';
import { execTemplate, TemplateError } from './template.js';

// ---- Go's text/tabwriter (minwidth 10, tabwidth 1, padding 3, padchar ' ', no flags) ----

function runes(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * text/tabwriter.Writer with docker's settings, applied to a whole text. Cells are tab-terminated;
 * the text after a line's last tab is not aligned. Like Go, columns are aligned per "column block"
 * (consecutive lines that have a cell in that column), so ragged rows format the same way.
 */
export function tabwrite(text: string, minWidth = 10, padding = 3): string {
  const trailingNewline = text.endsWith('\n');
  const lines = (trailingNewline ? text.slice(0, -1) : text).split('\n').map((l) => l.split('\t'));
  const widths: number[] = [];
  let out = '';
  const writeLines = (line0: number, line1: number) => {
    for (let i = line0; i < line1; i++) {
      const cells = lines[i];
      let s = '';
      for (let j = 0; j < cells.length; j++) {
        const c = cells[j];
        s += c;
        if (j < widths.length && j < cells.length - 1) s += ' '.repeat(Math.max(0, widths[j] - runes(c)));
        else if (j < cells.length - 1) s += ''; // a tab-terminated cell beyond the known columns: Go writes it unpadded
      }
      out += s;
      if (i < lines.length - 1 || trailingNewline) out += '\n';
    }
  };
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    for (let cur = line0; cur < line1; cur++) {
      if (column >= lines[cur].length - 1) continue;
      // A cell exists in this column: print the lines before the block, then the block.
      writeLines(line0, cur);
      line0 = cur;
      let width = minWidth;
      for (; cur < line1; cur++) {
        const cells = lines[cur];
        if (column >= cells.length - 1) break;
        width = Math.max(width, runes(cells[column]) + padding);
      }
      widths.push(width);
      format(line0, cur);
      widths.pop();
      line0 = cur;
      // `cur` now points at the first line after the block; the loop's ++ must not skip it.
      cur--;
    }
    writeLines(line0, line1);
  };
  format(0, lines.length);
  return out;
}

// ---- Go time formatting ----

/** Go's time.Time.String() for a unix time ("2026-11-07 08:09:38 +0000 UTC"), in the local zone. */
export function goTimeString(unixSeconds: number, timeZone?: string): string {
  const d = new Date(unixSeconds * 1000);
  const tz = timeZone ?? process.env.TZ;
  if (!tz || tz === 'UTC' || tz === 'Etc/UTC' || tz === ':UTC' || d.getTimezoneOffset() === 0 && !tz) {
    return `${d.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
  }
  const off = -d.getTimezoneOffset();
  const local = new Date(d.getTime() + off * 60_000).toISOString().slice(0, 19).replace('T', ' ');
  const sign = off < 0 ? '-' : '+';
  const hh = String(Math.trunc(Math.abs(off) / 60)).padStart(2, '0');
  const mm = String(Math.abs(off) % 60).padStart(2, '0');
  let abbr = `${sign}${hh}${mm}`;
  try {
    const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName');
    if (part && /^[A-Z]{2,5}$/.test(part.value)) abbr = part.value;
  } catch {
    // keep the numeric form, as Go does for zones without an abbreviation
  }
  return `${local} ${sign}${hh}${mm} ${abbr}`;
}

// ---- row contexts ----

/** A row: docker's field name -> display string (what the template sees). */
export type Row = Record<string, unknown>;

export interface ListFormatOptions {
  noTrunc?: boolean;
  now?: number;
  timeZone?: string;
}

export interface ContainerRowInput extends ContainerSummary {
  Labels?: Record<string, string> | null;
  Mounts?: Array<{ Name?: string; Source?: string; Driver?: string }> | null;
  NetworkSettings?: { Networks?: Record<string, unknown> | null } | null;
  SizeRw?: number;
  SizeRootFs?: number;
}

export const CONTAINER_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Names: 'NAMES',
  Labels: 'LABELS',
  Mounts: 'MOUNTS',
  LocalVolumes: 'LOCAL VOLUMES',
  Networks: 'NETWORKS',
  Platform: 'PLATFORM',
};

export const IMAGE_HEADERS: Record<string, string> = {
  ID: 'IMAGE ID',
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  Containers: 'CONTAINERS',
  VirtualSize: 'VIRTUAL SIZE',
  SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE',
};

function containerImage(c: ContainerRowInput, trunc: boolean): string {
  if (!c.Image) return '<no image>';
  if (!trunc) return c.Image;
  if (c.ImageID && truncateId(c.ImageID) === truncateId(c.Image)) return truncateId(c.Image);
  if (/^(sha256:)?[0-9a-f]{64}$/.test(c.Image)) return c.Image;
  const r = parseNormalizedNamed(c.Image);
  return refString({ name: r.name, tag: r.tag }, true);
}

/** formatter.ContainerContext's fields for one container. */
export function containerRow(c: ContainerRowInput, opts: ListFormatOptions = {}): Row {
  const trunc = !opts.noTrunc;
  const now = opts.now ?? Date.now();
  let names = (c.Names ?? []).map((n) => n.replace(/^\//, ''));
  if (trunc) {
    const plain = names.find((n) => !n.includes('/'));
    if (plain !== undefined) names = [plain];
  }
  const labels = Object.entries(c.Labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join(',');
  const mounts = (c.Mounts ?? []).map((m) => {
    const name = m.Name || m.Source || '';
    return trunc ? ellipsis(name, 15) : name;
  });
  const srw = humanSizeWithPrecision(c.SizeRw ?? 0, 3);
  const size = (c.SizeRootFs ?? 0) > 0 ? `${srw} (virtual ${humanSizeWithPrecision(c.SizeRootFs!, 3)})` : srw;
  return {
    Command: goQuote(trunc ? ellipsis(c.Command ?? '', 20) : (c.Command ?? '')),
    CreatedAt: goTimeString(c.Created, opts.timeZone),
    ID: trunc ? truncateId(c.Id) : c.Id,
    Image: containerImage(c, trunc),
    Labels: labels,
    LocalVolumes: String((c.Mounts ?? []).filter((m) => m.Driver === 'local').length),
    Mounts: mounts.join(','),
    Names: names.join(','),
    Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).sort().join(','),
    Platform: null,
    Ports: displayablePorts(c.Ports),
    RunningFor: `${humanDuration(now - c.Created * 1000)} ago`,
    Size: size,
    State: c.State ?? '',
    Status: c.Status,
  };
}

export interface ImageRowInput extends ImageSummary {
  Containers?: number;
  SharedSize?: number;
}

function isDangling(img: ImageSummary): boolean {
  const tags = img.RepoTags ?? [];
  const digests = img.RepoDigests ?? [];
  if (tags.length === 0 && digests.length === 0) return true;
  return tags.length === 1 && tags[0] === '<none>:<none>' && (digests.length === 0 || (digests.length === 1 && digests[0] === '<none>@<none>'));
}

/**
 * formatter.ImageContext rows: one per repository:tag (per digest too with --digests), `<none>`
 * for dangling images, as `docker images` expands them.
 */
export function imageRowsFor(images: ImageRowInput[], opts: ListFormatOptions & { digests?: boolean } = {}): Row[] {
  const trunc = !opts.noTrunc;
  const now = opts.now ?? Date.now();
  const rows: Row[] = [];
  const push = (img: ImageRowInput, repo: string, tag: string, digest: string) => {
    const na = (n: number | undefined, f: (n: number) => string) => (n === undefined || n < 0 ? 'N/A' : f(n));
    const shared = img.SharedSize ?? -1;
    rows.push({
      Containers: na(img.Containers, String),
      CreatedAt: goTimeString(img.Created, opts.timeZone),
      CreatedSince: img.Created ? `${humanDuration(now - img.Created * 1000)} ago` : 'N/A',
      Digest: digest,
      ID: trunc ? truncateId(img.Id) : img.Id,
      Repository: repo,
      SharedSize: na(shared, (n) => humanSizeWithPrecision(n, 3)),
      Size: humanSizeWithPrecision(img.Size, 3),
      Tag: tag,
      UniqueSize: shared < 0 ? 'N/A' : humanSizeWithPrecision(img.Size - shared, 3),
      VirtualSize: humanSizeWithPrecision(img.Size, 4),
    });
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
      const digests = repoDigests.get(repo) ?? [];
      repoDigests.delete(repo);
      for (const tag of tags) {
        if (opts.digests && digests.length > 0) for (const d of digests) push(img, repo, tag, d);
        else push(img, repo, tag, '<none>');
      }
    }
    // Digest-only references: a row per digest with --digests, else one row with an empty digest.
    for (const [repo, digests] of repoDigests) {
      if (opts.digests) for (const d of digests) push(img, repo, '<none>', d);
      else push(img, repo, '<none>', '');
    }
  }
  return rows;
}

// ---- rendering ----

export const DEFAULT_PS_FORMAT = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';
export const DEFAULT_IMAGES_FORMAT = 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
export const DEFAULT_IMAGES_DIGESTS_FORMAT = 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';

/** json.Marshal of a formatter context (HTML characters escaped, keys sorted, as Go does). */
function marshalRow(row: Row): string {
  const sorted: Row = {};
  for (const k of Object.keys(row).sort()) sorted[k] = row[k];
  return JSON.stringify(sorted).replace(/[<>&\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export class FormatError extends Error {}

/**
 * Render rows with a docker --format value. `kind` names docker's context type in error messages.
 * Returns the text to print; throws FormatError with docker's wording for template errors.
 */
export function renderList(format: string, rows: Row[], headers: Record<string, string>, kind: string): string {
  let f = format;
  if (f === 'json') f = '{{json .}}';
  const isTable = f.startsWith('table');
  let tmpl = isTable ? f.slice('table'.length) : f;
  const offset = format.length - tmpl.trimStart().length;
  tmpl = tmpl.trim().replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  if (isTable && tmpl === '') throw new FormatError('table format needs a template');
  const run = (data: unknown, marshal: boolean): string => {
    // `{{json .}}` on a context is its MarshalJSON, which escapes HTML; fields stay unescaped.
    const t = marshal ? tmpl.replace(/\{\{-?\s*json\s+\.\s*-?\}\}/g, '\u0000ROW\u0000') : tmpl;
    try {
      const text = execTemplate(t, data);
      return marshal ? text.replace(/\u0000ROW\u0000/g, () => marshalRow(data as Row)) : text;
    } catch (err) {
      if (err instanceof TemplateError) {
        const msg = err.message
          .replace(/^(template: :\d+:)(\d+)/, (_m, a: string, col: string) => `${a}${Number(col) + offset}`)
          .replace(/in type interface \{\}/, `in type *formatter.${kind}`)
          .replace(/map has no entry for key "([^"]+)"/, `can't evaluate field $1 in type *formatter.${kind}`);
        throw new FormatError(`failed to execute template: ${msg}`);
      }
      throw err;
    }
  };
  let body = '';
  for (const row of rows) body += run(row, true) + '\n';
  if (!isTable) return body;
  // Header: the same template run against the header names (docker's SubHeaderContext); fields
  // without a header name print empty.
  const headerRow: Row = {};
  for (const k of Object.keys(rows[0] ?? headers)) headerRow[k] = headers[k] ?? '';
  for (const k of Object.keys(headers)) headerRow[k] = headers[k];
  let header: string;
  try {
    header = execTemplate(tmpl.replace(/\{\{-?\s*json\s+\.\s*-?\}\}/g, ''), headerRow);
  } catch {
    header = '';
  }
  return tabwrite(header + '\n' + body);
}
