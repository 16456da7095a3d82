// A container's log on disk: the live file conmon appends to (`<id>-json.log`) and the rotated
// ones before it (`.1` newest ... `.N` oldest), as docker's json-file driver names them.
//
// Rotation (rotateLogFiles) renames synchronously, and readers open the files synchronously
// (openLogFiles): berthd runs both on one thread, so a reader never sees half a rotation.
// Followers register here to open the files about to be dropped before they go.
import { closeSync, fstatSync, openSync, readdirSync, renameSync, unlinkSync } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface OpenLogFile {
  /** The name it had when opened (it may have been renamed since). */
  path: string;
  fd: number;
  /** Inode: identity across renames. */
  ino: bigint;
}

/** The log's files, oldest first, the live file last (whether it exists yet or not). */
export function logFileNames(logPath: string): string[] {
  const base = basename(logPath);
  let names: string[];
  try {
    names = readdirSync(dirname(logPath));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [logPath];
    throw err;
  }
  const rotated = names
    .map((n) => (n.startsWith(`${base}.`) ? /^\d+$/.exec(n.slice(base.length + 1)) : null))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[0]))
    .sort((a, b) => b - a);
  return [...rotated.map((n) => `${logPath}.${n}`), logPath];
}

function openIfExists(path: string): OpenLogFile | undefined {
  try {
    const fd = openSync(path, 'r');
    return { path, fd, ino: fstatSync(fd, { bigint: true }).ino };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Open every file of the log, oldest first. Synchronous so that no rotation interleaves. */
export function openLogFiles(logPath: string): OpenLogFile[] {
  return logFileNames(logPath).map(openIfExists).filter((f): f is OpenLogFile => f !== undefined);
}

/**
 * Open the files that came after `last` (a file already open): the ones after it in rotation
 * order, or, when it is in none of them (conmon replaced the live file when it hit its own size
 * cap), the live file. Files whose inode is in `known` are skipped.
 */
export function openNewerLogFiles(logPath: string, last: bigint | undefined, known: Set<bigint>): OpenLogFile[] {
  const files = openLogFiles(logPath);
  const at = last === undefined ? -1 : files.findIndex((f) => f.ino === last);
  const newer = last === undefined ? files : at >= 0 ? files.slice(at + 1) : files.filter((f) => f.path === logPath);
  const out: OpenLogFile[] = [];
  for (const f of files) {
    if (newer.includes(f) && !known.has(f.ino)) out.push(f);
    else closeSync(f.fd);
  }
  return out;
}

/**
 * Close the leading files last written before `sinceNano` (mtime, nanoseconds): conmon stamps a
 * line before writing it, so none of their lines can pass a since filter. The live file stays.
 */
export function skipOlderThan(files: OpenLogFile[], sinceNano: bigint): void {
  while (files.length > 1 && fstatSync(files[0].fd, { bigint: true }).mtimeNs < sinceNano) closeLogFiles(files.splice(0, 1));
}

export function closeLogFiles(files: OpenLogFile[]): void {
  for (const f of files.splice(0)) {
    try {
      closeSync(f.fd);
    } catch {
      // already closed
    }
  }
}

const beforeRotate = new Map<string, Set<() => void>>();

/** Call `fn` (synchronously) before each rotation of the log at `logPath`; returns the unsubscribe. */
export function onBeforeRotate(logPath: string, fn: () => void): () => void {
  let set = beforeRotate.get(logPath);
  if (!set) beforeRotate.set(logPath, (set = new Set()));
  set.add(fn);
  return () => {
    set.delete(fn);
    if (set.size === 0 && beforeRotate.get(logPath) === set) beforeRotate.delete(logPath);
  };
}

/**
 * Shift the files: `.N-1` → `.N` ... live → `.1`, dropping what is beyond `maxFile` files in
 * all. With maxFile 1 the live file is dropped. The writer must then be told to reopen: until it
 * does, it keeps appending to the file now named `.1`, so nothing written meanwhile is lost.
 */
export function rotateLogFiles(logPath: string, maxFile: number): void {
  for (const fn of beforeRotate.get(logPath) ?? []) {
    try {
      fn();
    } catch {
      // A reader that cannot open more files (EMFILE) loses its place; the rotation goes on.
    }
  }
  const keep = Math.max(0, maxFile - 1);
  const names = logFileNames(logPath);
  // Anything at or beyond the last kept slot goes (a smaller max-file after a restart included).
  for (const name of names.slice(0, -1)) {
    const n = Number(name.slice(logPath.length + 1));
    if (n >= keep) unlinkQuiet(name);
  }
  if (keep === 0) {
    unlinkQuiet(logPath);
    return;
  }
  for (let n = keep - 1; n >= 1; n--) renameQuiet(`${logPath}.${n}`, `${logPath}.${n + 1}`);
  renameQuiet(logPath, `${logPath}.1`);
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function renameQuiet(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
