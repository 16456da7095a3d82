// Engine API latency without any CLI in the way: what an SDK (docker-py, dockerode, Testcontainers)
// waits for. `ps` is GET /containers/json; `exec` is what `docker exec CONTAINER true` sends:
// POST /containers/{id}/exec, POST /exec/{id}/start upgraded to a raw stream read to its end, then
// GET /exec/{id}/json for the exit code. Each request on a fresh connection, as the CLI makes them.
import { request } from 'node:http';
import type { Socket } from 'node:net';

interface Reply {
  status: number;
  body: string;
}

function socketOf(host: string): string {
  if (!host.startsWith('unix://')) throw new Error(`the API latency bench needs a unix:// host, not ${host}`);
  return host.slice('unix://'.length);
}

function call(host: string, method: string, path: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      { socketPath: socketOf(host), method, path, headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {} },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** POST with `Upgrade: tcp` (the CLI's hijack), then read the raw stream until the engine closes it. */
function hijack(host: string, path: string, body: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request({
      socketPath: socketOf(host),
      method: 'POST',
      path,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload), Connection: 'Upgrade', Upgrade: 'tcp' },
    });
    const drain = (socket: Socket) => {
      socket.on('data', () => {});
      socket.on('end', () => {
        socket.destroy();
        resolve();
      });
      socket.on('error', reject);
    };
    req.on('upgrade', (_res, socket) => drain(socket));
    // An engine may also answer 200 with the stream as the body.
    req.on('response', (res) => {
      if (res.statusCode !== 200) reject(new Error(`${path}: status ${res.statusCode}`));
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function medianOf(runs: number, once: () => Promise<void>): Promise<number> {
  await once(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await once();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(times);
}

/** Median ms of GET /containers/json. */
export function psApiMs(host: string, runs: number): Promise<number> {
  return medianOf(runs, async () => {
    const r = await call(host, 'GET', '/containers/json');
    if (r.status !== 200) throw new Error(`GET /containers/json: ${r.status} ${r.body}`);
  });
}

/** Median ms of one `exec CONTAINER true` through the API, exit code checked. */
export function execApiMs(host: string, container: string, runs: number): Promise<number> {
  return medianOf(runs, async () => {
    const created = await call(host, 'POST', `/containers/${container}/exec`, { Cmd: ['true'], AttachStdout: true, AttachStderr: true });
    if (created.status !== 201) throw new Error(`exec create: ${created.status} ${created.body}`);
    const id = (JSON.parse(created.body) as { Id: string }).Id;
    await hijack(host, `/exec/${id}/start`, { Detach: false, Tty: false });
    const inspected = await call(host, 'GET', `/exec/${id}/json`);
    const exitCode = (JSON.parse(inspected.body) as { ExitCode: number | null }).ExitCode;
    if (exitCode !== 0) throw new Error(`exec true exited ${exitCode}`);
  });
}
