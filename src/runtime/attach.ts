// conmon's attach socket and control fifo.
//
// The attach socket (`<bundle>/attach` with --full-attach) is SOCK_SEQPACKET: each packet conmon
// sends is one read of the container's output, its first byte naming the pipe (2 stdout, 3 stderr);
// what a client sends goes to the container's stdin as is. A client that shuts down its write side
// makes conmon close the container's stdin (unless --leave-stdin-open), so the process sees EOF.
// Node's net module only opens stream sockets, so node-unix-socket (N-API, prebuilt for
// linux-x64-gnu in its npm package) does the SEQPACKET part.
//
// The control fifo (`<bundle>/ctl`) takes lines "<type> <height> <width>\n"; type 1 resizes the
// container's terminal.
import { closeSync, constants, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { SeqpacketSocket } from 'node-unix-socket';

export const ATTACH_STDOUT = 2;
export const ATTACH_STDERR = 3;

export interface AttachConnection {
  /** 'data' (stream 2|3, payload Buffer), 'end'. */
  events: EventEmitter;
  write(data: Buffer): void;
  /** Half-close: conmon closes the container's stdin. */
  closeStdin(): void;
  close(): void;
}

/**
 * Connect to conmon's attach socket in `bundleDir`. Paths of sockets are limited to 107 bytes,
 * so the connection goes through /proc/self/fd/<dir fd>, as conmon binds it.
 */
export function connectAttach(bundleDir: string): Promise<AttachConnection> {
  return new Promise((resolve, reject) => {
    let dirFd: number;
    try {
      dirFd = openSync(bundleDir, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (err) {
      reject(err);
      return;
    }
    const sock = new SeqpacketSocket();
    const events = new EventEmitter();
    let ended = false;
    let writeClosed = false;
    const pending: Buffer[] = [];
    let connected = false;
    const end = () => {
      if (ended) return;
      ended = true;
      events.emit('end');
    };
    const conn: AttachConnection = {
      events,
      write(data) {
        if (writeClosed || ended) return;
        // conmon reads at most 32 KiB per packet; stay well below.
        for (let off = 0; off < data.length; off += 8192) {
          const part = data.subarray(off, off + 8192);
          if (connected) safe(() => sock.write(part));
          else pending.push(part);
        }
      },
      closeStdin() {
        if (writeClosed) return;
        writeClosed = true;
        if (connected && !ended) safe(() => sock.end());
      },
      close() {
        end();
        safe(() => sock.destroy());
      },
    };
    sock.on('data', (buf: Buffer) => {
      if (buf.length < 1) return;
      events.emit('data', buf[0], buf.subarray(1));
    });
    sock.on('end', end);
    sock.on('close', end);
    sock.on('error', (err: Error) => {
      if (!connected) reject(err);
      end();
    });
    try {
      sock.connect(`/proc/self/fd/${dirFd}/attach`, () => {
        connected = true;
        closeSync(dirFd);
        for (const p of pending.splice(0)) safe(() => sock.write(p));
        if (writeClosed) safe(() => sock.end());
        resolve(conn);
      });
    } catch (err) {
      closeSync(dirFd);
      reject(err);
    }
  });
}

/** node-unix-socket throws (EBADF) on a socket conmon already closed: that is the end of it. */
function safe(fn: () => void): void {
  try {
    fn();
  } catch {
    // closed
  }
}

/** Resize the terminal conmon holds for the container (or exec) whose bundle is `bundleDir`. */
export async function resizeTerminal(bundleDir: string, height: number, width: number): Promise<void> {
  // O_NONBLOCK: opening a fifo for writing with nobody reading fails (ENXIO) instead of hanging.
  const fh = await open(join(bundleDir, 'ctl'), constants.O_WRONLY | constants.O_NONBLOCK);
  try {
    await fh.write(`1 ${height} ${width}\n`);
  } finally {
    await fh.close();
  }
}
