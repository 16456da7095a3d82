// The Engine API listener: a unix socket (root-only, 0660) or, when configured, TCP.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname } from 'node:path';
import { InvalidParameterError } from '../util/errors.js';
import type { Router } from './router.js';

/** `onRequestDone` runs as each request's response (or upgraded stream) closes. */
export async function listen(router: Router, host: string, onRequestDone?: () => void): Promise<Server> {
  const server = createServer({ keepAlive: true });
  server.keepAliveTimeout = 120_000;
  // Streams like `logs -f` and attach stay open indefinitely.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.on('request', router.handleRequest);
  server.on('upgrade', router.handleUpgrade);
  if (onRequestDone) {
    server.on('request', (_req, res) => res.once('close', onRequestDone));
    server.on('upgrade', (_req, socket) => socket.once('close', onRequestDone));
  }

  if (host.startsWith('unix://')) {
    const path = host.slice('unix://'.length);
    mkdirSync(dirname(path), { recursive: true });
    rmSync(path, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    chmodSync(path, 0o660);
    return server;
  }
  const m = /^tcp:\/\/([^:]+|\[[^\]]+\]):(\d+)$/.exec(host);
  if (!m) throw new InvalidParameterError(`invalid host: ${host}: only unix:// and tcp://host:port are supported`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[2]), m[1].replace(/^\[|\]$/g, ''), () => resolve());
  });
  return server;
}
