// The client side of a hijacked stream (attach, exec start): output to our stdout/stderr (docker's
// frames without a TTY, raw bytes with one), our stdin to the connection, raw mode and window size
// for a TTY. stdin's end half-closes the connection, so the process in the container sees EOF.
import { execFileSync } from 'node:child_process';
import type { Socket } from 'node:net';
import { FrameDemuxer } from './api-client.js';

export interface PumpOptions {
  tty: boolean;
  /** Send our stdin. */
  stdin: boolean;
}

/** Resolves when the daemon ends the stream. */
export function pumpStream(socket: Socket, head: Buffer, o: PumpOptions): Promise<void> {
  const write = (stream: number, data: Buffer) => {
    if (stream === 2 || stream === 3) process.stderr.write(data);
    else process.stdout.write(data);
  };
  const demux = o.tty ? undefined : new FrameDemuxer(write);
  const onData = (chunk: Buffer) => (demux ? demux.push(chunk) : process.stdout.write(chunk));
  if (head.length) onData(head);
  socket.on('data', onData);
  let stdinPiped = false;
  if (o.stdin) {
    stdinPiped = true;
    process.stdin.on('data', (d: Buffer) => {
      if (!socket.destroyed) socket.write(d);
    });
    process.stdin.on('end', () => {
      if (!socket.destroyed) socket.end();
    });
  }
  return new Promise((resolve) => {
    const done = () => {
      if (stdinPiped) {
        process.stdin.pause();
        process.stdin.removeAllListeners('data');
        // A TTY stdin keeps the loop alive otherwise.
        if (process.stdin.isTTY) process.stdin.destroy();
      }
      resolve();
    };
    socket.once('end', done);
    socket.once('close', done);
    socket.once('error', done);
  });
}

/** docker's "the input device is not a TTY" check for -it. */
export function checkTtyInput(tty: boolean, interactive: boolean): void {
  if (tty && interactive && !process.stdin.isTTY) throw new Error('the input device is not a TTY');
}

/** Raw mode on our terminal while attached with a TTY; returns the restore function. */
export function rawTerminal(tty: boolean, interactive: boolean): () => void {
  if (!tty || !interactive || !process.stdin.isTTY) return () => undefined;
  // Node's raw mode keeps output post-processing (ONLCR), so the container's CRLF would become
  // CR CR LF; docker's raw mode clears it: stty does what setRawMode leaves out.
  let saved: string | undefined;
  try {
    saved = execFileSync('stty', ['-g'], { stdio: ['inherit', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    saved = undefined;
  }
  process.stdin.setRawMode(true);
  try {
    execFileSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] });
  } catch {
    // no stty: output keeps ONLCR
  }
  return () => {
    try {
      process.stdin.setRawMode(false);
      if (saved) execFileSync('stty', [saved], { stdio: ['inherit', 'ignore', 'ignore'] });
    } catch {
      // stdin already closed
    }
  };
}

/** Our terminal's size as docker sends it: [height, width], or undefined without a terminal. */
export function consoleSize(): [number, number] | undefined {
  const out = process.stdout.isTTY ? process.stdout : undefined;
  if (!out || !out.rows || !out.columns) return undefined;
  return [out.rows, out.columns];
}

/** Send our size now and on every SIGWINCH, as docker's monitorTtySize does. */
export function monitorTtySize(resize: (h: number, w: number) => Promise<unknown>): () => void {
  const send = () => {
    const size = consoleSize();
    if (size) resize(size[0], size[1]).catch(() => undefined);
  };
  send();
  process.on('SIGWINCH', send);
  return () => process.off('SIGWINCH', send);
}
