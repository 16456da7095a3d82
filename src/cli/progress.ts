// Rendering of docker's JSON message streams (pull progress) the way the docker CLI's jsonmessage
// package does: on a terminal one line per layer id, redrawn in place with cursor movement; on a
// pipe, each status line once and progress updates dropped.
import { humanSize } from './format.js';

export interface JsonProgress {
  current?: number;
  total?: number;
  start?: number;
  hidecounts?: boolean;
  units?: string;
}

export interface JsonMessage {
  stream?: string;
  status?: string;
  progressDetail?: JsonProgress;
  progress?: string;
  id?: string;
  from?: string;
  time?: number;
  timeNano?: number;
  errorDetail?: { code?: number; message?: string };
  error?: string;
  aux?: unknown;
}

export class JsonMessageError extends Error {}

const ESC = '\x1b[';

/** Go's time.Duration.String() for a whole number of seconds ("1m5s", "45s", "0s"). */
function goDurationSeconds(total: number): string {
  if (total <= 0) return '0s';
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** JSONProgress.String(): "[=====>      ]  1.2MB/3.4MB" (bar only on terminals wider than 110). */
export function progressString(p: JsonProgress, width: number, nowMs = Date.now()): string {
  const current = p.current ?? 0;
  const total = p.total ?? 0;
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) {
    return p.units ? `${current} ${p.units}` : humanSize(current).padStart(8);
  }
  let percentage = Math.trunc(Math.trunc((current / total) * 100) / 2);
  if (percentage > 50) percentage = 50;
  let pbBox = '';
  if (width > 110) {
    pbBox = `[${'='.repeat(percentage)}>${' '.repeat(Math.max(0, 50 - percentage))}] `;
  }
  let numbersBox = '';
  if (p.hidecounts) {
    numbersBox = '';
  } else if (!p.units) {
    const cur = humanSize(current);
    numbersBox = current > total ? cur.padStart(8) : `${cur.padStart(8)}/${humanSize(total)}`;
  } else {
    numbersBox = current > total ? `${current} ${p.units}` : `${current}/${total} ${p.units}`;
  }
  let timeLeftBox = '';
  if (width > 50 && current > 0 && p.start && p.start > 0 && percentage < 50) {
    const fromStartMs = nowMs - p.start * 1000;
    const left = ((total - current) * fromStartMs) / current;
    timeLeftBox = ' ' + goDurationSeconds(Math.round(left / 1000));
  }
  return pbBox + numbersBox + timeLeftBox;
}

/** Go's RFC3339NanoFixed in UTC ("2006-01-02T15:04:05.000000000Z"). */
function rfc3339NanoFixed(nanos: bigint): string {
  const ms = Number(nanos / 1_000_000n);
  const frac = (nanos % 1_000_000_000n).toString().padStart(9, '0');
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}

/**
 * Stateful display of a JSON message stream (DisplayJSONMessagesStream). Feed it parsed messages
 * in order; it throws JsonMessageError for a message carrying an error.
 */
export class JsonMessageDisplay {
  private ids = new Map<string, number>();

  constructor(
    private readonly write: (s: string) => void,
    private readonly isTerminal: boolean,
    private readonly width = 200,
    private readonly now: () => number = Date.now,
  ) {}

  handle(jm: JsonMessage): void {
    if (jm.aux !== undefined && jm.aux !== null) return;
    let diff = 0;
    const hasProgress = jm.progressDetail !== undefined && jm.progressDetail !== null;
    if (jm.id && (hasProgress || jm.progress)) {
      let line = this.ids.get(jm.id);
      if (line === undefined) {
        // Lines are counted by the number of ids seen since the last id-less message.
        line = this.ids.size;
        this.ids.set(jm.id, line);
        if (this.isTerminal) this.write('\n');
      }
      diff = this.ids.size - line;
      if (this.isTerminal && diff > 0) this.write(`${ESC}${diff}A`);
    } else {
      // Anything that is not per-id progress ends the block of lines being redrawn.
      this.ids = new Map();
    }
    const err = this.display(jm);
    if (jm.id && this.isTerminal && diff > 0) this.write(`${ESC}${diff}B`);
    if (err) throw err;
  }

  private display(jm: JsonMessage): JsonMessageError | undefined {
    if (jm.errorDetail) return new JsonMessageError(jm.errorDetail.message ?? '');
    const hasProgress = jm.progressDetail !== undefined && jm.progressDetail !== null;
    let endl = '';
    if (this.isTerminal && !jm.stream && hasProgress) {
      this.write(`${ESC}2K\r`);
      endl = '\r';
    } else if (hasProgress && progressString(jm.progressDetail!, this.width, this.now()) !== '') {
      // Progress bars are not shown on pipes.
      return undefined;
    }
    let out = '';
    if (jm.timeNano) out += `${rfc3339NanoFixed(BigInt(jm.timeNano))} `;
    else if (jm.time) out += `${rfc3339NanoFixed(BigInt(jm.time) * 1_000_000_000n)} `;
    if (jm.id) out += `${jm.id}: `;
    if (jm.from) out += `(from ${jm.from}) `;
    const status = jm.status ?? '';
    if (hasProgress && this.isTerminal) out += `${status} ${progressString(jm.progressDetail!, this.width, this.now())}${endl}`;
    else if (jm.progress) out += `${status} ${jm.progress}${endl}`;
    else if (jm.stream) out += `${jm.stream}${endl}`;
    else out += `${status}${endl}\n`;
    this.write(out);
    return undefined;
  }
}
