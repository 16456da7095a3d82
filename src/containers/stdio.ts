// A client's stdin to a container (attach with stdin=1, run -i, start -a -i), through conmon's
// attach socket. What the client sends before the container runs is kept and delivered once it
// does. The client's end of stdin half-closes the socket: conmon then closes the container's stdin
// (containers with StdinOnce run without --leave-stdin-open), so `echo hi | run -i cat` ends.
// Docker's detach keys (default ctrl-p ctrl-q) end the attach and leave the container running: the
// socket is then kept open until the container ends, as closing it would close the stdin too.
import type { Readable } from 'node:stream';
import { connectAttach, type AttachConnection } from '../runtime/attach.js';
import { InvalidParameterError } from '../util/errors.js';
import { logger } from '../util/log.js';
import type { ContainerManager } from './manager.js';

const log = logger('attach');

/** docker's --detach-keys: "ctrl-p,ctrl-q", "ctrl-a,x"... as bytes. */
export function parseDetachKeys(spec: string | null | undefined): Buffer {
  const text = spec && spec !== '' ? spec : 'ctrl-p,ctrl-q';
  const out: number[] = [];
  for (const key of text.split(',')) {
    const k = key.trim().toLowerCase();
    if (k.length === 1) out.push(k.charCodeAt(0));
    else if (/^ctrl-[a-z@[\\\]^_]$/.test(k)) {
      const ch = k.slice(5);
      out.push(ch >= 'a' && ch <= 'z' ? ch.charCodeAt(0) - 96 : ch.toUpperCase().charCodeAt(0) - 64);
    } else throw new InvalidParameterError(`Invalid detach keys (${spec}) provided`);
  }
  return Buffer.from(out);
}

export interface StdinAttach {
  /** Resolves 'detached' when the detach keys were typed, 'eof' at the end of the client's stdin. */
  done: Promise<'detached' | 'eof' | 'gone'>;
  stop(): void;
}

export function attachStdin(containers: ContainerManager, id: string, input: Readable, o: { detachKeys: Buffer }): StdinAttach {
  const queued: Buffer[] = [];
  let conn: AttachConnection | undefined;
  let matched = 0;
  let finished = false;
  let resolveDone!: (v: 'detached' | 'eof' | 'gone') => void;
  const done = new Promise<'detached' | 'eof' | 'gone'>((r) => (resolveDone = r));
  let eof = false;

  const send = (d: Buffer) => {
    if (conn) conn.write(d);
    else queued.push(d);
  };
  const keys = o.detachKeys;
  const onData = (chunk: Buffer) => {
    if (finished) return;
    if (matched === 0 && !chunk.includes(keys[0])) {
      send(chunk);
      return;
    }
    // Bytes of a partial match of the detach keys are held back until the match fails.
    const out: number[] = [];
    for (const b of chunk) {
      if (b === keys[matched]) {
        matched++;
        if (matched === keys.length) {
          if (out.length) send(Buffer.from(out));
          finish('detached');
          return;
        }
        continue;
      }
      if (matched > 0) {
        out.push(...keys.subarray(0, matched));
        matched = b === keys[0] ? 1 : 0;
        if (matched) continue;
      }
      out.push(b);
    }
    if (out.length) send(Buffer.from(out));
  };
  const finish = (why: 'detached' | 'eof' | 'gone') => {
    if (finished) return;
    finished = true;
    input.off('data', onData);
    if (why === 'eof') {
      eof = true;
      conn?.closeStdin();
    } else if (why === 'gone') {
      conn?.close();
    }
    // detached: the connection stays open, so conmon keeps the container's stdin open.
    resolveDone(why);
  };
  input.on('data', onData);
  input.on('end', () => finish('eof'));
  input.on('close', () => finish('gone'));
  input.on('error', () => finish('gone'));

  void containers.whenRunning(id).then(async (running) => {
    if (!running) return;
    try {
      const c = await connectAttach(containers.bundleDir(id));
      conn = c;
      // conmon's output packets are not used: output comes from the log, which loses nothing.
      for (const d of queued.splice(0)) c.write(d);
      if (eof) c.closeStdin();
      else if (finished && !eof) {
        // detached or gone before the connection was made
        if ((await done) === 'gone') c.close();
      }
    } catch (err) {
      log.debug({ err, id }, 'attach socket not reachable (the container may have ended)');
    }
  });

  return {
    done,
    stop: () => finish('gone'),
  };
}
