// A small fake Engine API on a unix socket with canned docker-shaped answers. It records every
// request (method, path, query, body, headers) so tests can check what the CLI sends. Run it
// directly (`node --import tsx test/cli/fake-engine.ts /tmp/fake.sock`) to drive the real docker
// CLI against the same answers and compare outputs.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { rmSync } from 'node:fs';

export interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: string;
}

export const BUSYBOX_ID = 'sha256:af4709625109aa1d2e2a1b3ad2d8ac84d2c6d0e4d6e4ea1e5c1ee2f2ad5d1f20';
export const CONTAINER_ID = '4f66ad9a0b2e5b6c7d8e9f00112233445566778899aabbccddeeff0011223344';
const NOW = () => Math.floor(Date.now() / 1000);

export interface FakeState {
  /** Images the fake knows; creating a container from another image answers 404 until pulled. */
  images: Set<string>;
  /** Exit code the wait endpoint reports. */
  exitCode: number;
  /** Message start answers with (status 400) instead of succeeding. */
  startError?: string;
  /** Frames attach sends after start: [stream, text]. */
  output: Array<[1 | 2, string]>;
  containersRemoved: string[];
}

export function frame(stream: number, data: string | Buffer): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data) : data;
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/json', 'Api-Version': '1.47', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function imagesList() {
  return [
    {
      Id: BUSYBOX_ID,
      ParentId: '',
      RepoTags: ['busybox:latest'],
      RepoDigests: ['busybox@sha256:f85340bf132ae937d2c2a763b8335c9bab35d6e8293f70f606b9c6178d84f42b'],
      Created: NOW() - 3 * 7 * 24 * 3600,
      Size: 4261301,
      SharedSize: -1,
      Labels: null,
      Containers: -1,
    },
  ];
}

function containersList() {
  return [
    {
      Id: CONTAINER_ID,
      Names: ['/happy_turing'],
      Image: 'busybox',
      ImageID: BUSYBOX_ID,
      Command: 'sh -c \'while true; do echo hi; sleep 1; done\'',
      Created: NOW() - 300,
      Ports: [],
      Labels: {},
      State: 'running',
      Status: 'Up 5 minutes',
      HostConfig: { NetworkMode: 'bridge' },
      NetworkSettings: { Networks: {} },
      Mounts: [],
    },
    {
      Id: 'b'.repeat(64),
      Names: ['/done_one'],
      Image: 'busybox',
      ImageID: BUSYBOX_ID,
      Command: 'true',
      Created: NOW() - 7200,
      Ports: [],
      Labels: {},
      State: 'exited',
      Status: 'Exited (0) 2 hours ago',
      HostConfig: { NetworkMode: 'bridge' },
      NetworkSettings: { Networks: {} },
      Mounts: [],
    },
  ];
}

const LAYERS = ['9c0abc9c5bd3', 'a1b2c3d4e5f6'];

function pullStream(res: ServerResponse, name: string, tag: string, fresh: boolean): void {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Api-Version': '1.47' });
  const w = (m: unknown) => res.write(JSON.stringify(m) + '\r\n');
  w({ status: `Pulling from ${name}`, id: tag });
  if (fresh) {
    for (const id of LAYERS) w({ status: 'Pulling fs layer', progressDetail: {}, id });
    w({ status: 'Downloading', progressDetail: { current: 1000, total: 2000 }, progress: '[====>   ] 1kB/2kB', id: LAYERS[0] });
    w({ status: 'Downloading', progressDetail: { current: 2000, total: 2000 }, progress: '[=======>] 2kB/2kB', id: LAYERS[0] });
    w({ status: 'Download complete', progressDetail: {}, id: LAYERS[0] });
    w({ status: 'Extracting', progressDetail: { current: 2000, total: 2000 }, progress: '[=======>] 2kB/2kB', id: LAYERS[0] });
    w({ status: 'Pull complete', progressDetail: {}, id: LAYERS[0] });
    w({ status: 'Download complete', progressDetail: {}, id: LAYERS[1] });
    w({ status: 'Pull complete', progressDetail: {}, id: LAYERS[1] });
  }
  w({ status: 'Digest: sha256:f85340bf132ae937d2c2a763b8335c9bab35d6e8293f70f606b9c6178d84f42b' });
  const shown = name.startsWith('library/') ? name.slice(8) : name;
  w({ status: fresh ? `Status: Downloaded newer image for ${shown}:${tag}` : `Status: Image is up to date for ${shown}:${tag}` });
  res.end();
}

function containerInspect(id: string) {
  return {
    Id: id,
    Created: '2025-01-01T00:00:00.000000000Z',
    Path: 'sh',
    Args: ['-c', 'echo a && echo b'],
    State: { Status: 'exited', Running: false, ExitCode: 0 },
    Image: BUSYBOX_ID,
    Name: '/happy_turing',
    Config: { Hostname: '4f66ad9a0b2e', Env: ['PATH=/usr/bin'], Cmd: ['sh', '-c', 'echo a && echo b'], Image: 'busybox', Labels: {} },
    HostConfig: { NetworkMode: 'bridge', Binds: null },
  };
}

export function handle(state: FakeState, log: Recorded[], req: IncomingMessage, body: string, res?: ServerResponse, socket?: Duplex): void {
  const url = new URL(req.url ?? '/', 'http://fake');
  const path = url.pathname.replace(/^\/v\d+\.\d+/, '');
  log.push({ method: req.method ?? 'GET', path, query: Object.fromEntries(url.searchParams), headers: req.headers, body });
  if (process.env.FAKE_ENGINE_VERBOSE) console.error(JSON.stringify({ method: req.method, url: req.url, body: body || undefined }));
  const m = req.method;
  let match: RegExpExecArray | null;
  if (socket) {
    if ((match = /^\/containers\/([^/]+)\/attach$/.exec(path))) {
      socket.write('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
      // Output appears once the container "starts".
      attachWaiters.push(() => {
        for (const [s, t] of state.output) socket.write(frame(s, t));
        socket.end();
      });
      socket.resume();
      return;
    }
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const r = res!;
  if (path === '/_ping') {
    r.writeHead(200, { 'Api-Version': '1.47', 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 2 });
    r.end(m === 'HEAD' ? undefined : 'OK');
    return;
  }
  if (path === '/version' && m === 'GET') {
    return send(r, 200, {
      Platform: { Name: 'berth' },
      Components: [{ Name: 'Engine', Version: '0.1.0', Details: { ApiVersion: '1.47', MinAPIVersion: '1.24', GitCommit: 'berth', GoVersion: 'node20.20.2', Os: 'linux', Arch: 'amd64', KernelVersion: '6.1.0', BuildTime: '' } }],
      Version: '0.1.0', ApiVersion: '1.47', MinAPIVersion: '1.24', GitCommit: 'berth', GoVersion: 'node20.20.2', Os: 'linux', Arch: 'amd64', KernelVersion: '6.1.0', BuildTime: '',
    });
  }
  if (path === '/info' && m === 'GET') {
    return send(r, 200, {
      ID: 'abc', Containers: 2, ContainersRunning: 1, ContainersPaused: 0, ContainersStopped: 1, Images: 1,
      Driver: 'overlay2', DriverStatus: [['Backing Filesystem', 'extfs'], ['Supports d_type', 'true']],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['k8s-file'] },
      MemoryLimit: true, SwapLimit: false, Debug: false, NFd: 0, NGoroutines: 0, SystemTime: new Date().toISOString(),
      LoggingDriver: 'k8s-file', CgroupDriver: 'cgroupfs', CgroupVersion: '1', NEventsListener: 0, KernelVersion: '6.1.0',
      OperatingSystem: 'Debian GNU/Linux 12 (bookworm)', OSVersion: '12', OSType: 'linux', Architecture: 'x86_64',
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: { InsecureRegistryCIDRs: ['127.0.0.0/8'], IndexConfigs: {}, Mirrors: ['http://127.0.0.1:5000/'] },
      NCPU: 2, MemTotal: 8_000_000_000, DockerRootDir: '/var/lib/berth', HttpProxy: '', HttpsProxy: '', NoProxy: '',
      Name: 'host1', Labels: [], ExperimentalBuild: false, ServerVersion: '0.1.0', Runtimes: { runc: { path: 'runc' } },
      DefaultRuntime: 'runc', Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: true, Isolation: '', InitBinary: '', ContainerdCommit: { ID: '', Expected: '' }, RuncCommit: { ID: '', Expected: '' },
      InitCommit: { ID: '', Expected: '' }, SecurityOptions: ['name=seccomp,profile=builtin'], Warnings: [],
    });
  }
  if (path === '/images/create' && m === 'POST') {
    const from = url.searchParams.get('fromImage') ?? '';
    const tag = url.searchParams.get('tag') || 'latest';
    if (from.includes('nosuch')) return send(r, 404, { message: `pull access denied for ${from}, repository does not exist or may require 'docker login'` });
    const name = from.replace(/^docker\.io\//, '');
    const key = `${name.replace(/^library\//, '')}:${tag}`;
    const fresh = !state.images.has(key);
    state.images.add(key);
    return pullStream(r, name, tag, fresh);
  }
  if (path === '/images/json' && m === 'GET') return send(r, 200, imagesList());
  if ((match = /^\/images\/(.+)\/json$/.exec(path)) && m === 'GET') {
    if (match[1] === 'busybox' || match[1] === 'busybox:latest') return send(r, 200, { Id: BUSYBOX_ID, RepoTags: ['busybox:latest'], Size: 4261301, Config: { Cmd: ['sh'] } });
    return send(r, 404, { message: `No such image: ${match[1]}` });
  }
  if ((match = /^\/images\/(.+)$/.exec(path)) && m === 'DELETE') {
    if (match[1] !== 'busybox') return send(r, 404, { message: `No such image: ${match[1]}:latest` });
    return send(r, 200, [{ Untagged: 'busybox:latest' }, { Untagged: 'busybox@sha256:f85340bf132ae937d2c2a763b8335c9bab35d6e8293f70f606b9c6178d84f42b' }, { Deleted: BUSYBOX_ID }]);
  }
  if (path === '/containers/create' && m === 'POST') {
    const cfg = JSON.parse(body || '{}') as { Image: string };
    const img = cfg.Image.includes(':') ? cfg.Image : `${cfg.Image}:latest`;
    if (!state.images.has(img)) return send(r, 404, { message: `No such image: ${img}` });
    return send(r, 201, { Id: CONTAINER_ID, Warnings: [] });
  }
  if (path === '/containers/json' && m === 'GET') {
    const all = url.searchParams.get('all');
    return send(r, 200, containersList().filter((c) => all === '1' || all === 'true' || c.State === 'running'));
  }
  if ((match = /^\/containers\/([^/]+)\/json$/.exec(path))) {
    if (match[1] === 'nosuch' || match[1] === 'busybox') return send(r, 404, { message: `No such container: ${match[1]}` });
    return send(r, 200, containerInspect(CONTAINER_ID));
  }
  if ((match = /^\/containers\/([^/]+)\/wait$/.exec(path))) {
    r.writeHead(200, { 'Content-Type': 'application/json', 'Api-Version': '1.47' });
    r.flushHeaders();
    waitWaiters.push(() => r.end(JSON.stringify({ StatusCode: state.exitCode, Error: null }) + '\n'));
    return;
  }
  if ((match = /^\/containers\/([^/]+)\/start$/.exec(path))) {
    if (state.startError) {
      send(r, 400, { message: state.startError });
      for (const w of waitWaiters.splice(0)) w();
      for (const w of attachWaiters.splice(0)) w();
      return;
    }
    r.writeHead(204, { 'Api-Version': '1.47' });
    r.end();
    setTimeout(() => {
      for (const w of attachWaiters.splice(0)) w();
      setTimeout(() => { for (const w of waitWaiters.splice(0)) w(); }, 5);
    }, 5);
    return;
  }
  if ((match = /^\/containers\/([^/]+)\/logs$/.exec(path))) {
    if (match[1] === 'nosuch') return send(r, 404, { message: `No such container: ${match[1]}` });
    r.writeHead(200, { 'Content-Type': 'application/vnd.docker.multiplexed-stream', 'Api-Version': '1.47' });
    r.write(frame(1, 'out line\n'));
    r.write(frame(2, 'err line\n'));
    r.end();
    return;
  }
  if ((match = /^\/containers\/([^/]+)$/.exec(path)) && m === 'DELETE') {
    if (match[1] === 'nosuch') return send(r, 404, { message: `No such container: ${match[1]}` });
    state.containersRemoved.push(match[1]);
    r.writeHead(204, { 'Api-Version': '1.47' });
    r.end();
    return;
  }
  send(r, 404, { message: 'page not found' });
}

const attachWaiters: Array<() => void> = [];
const waitWaiters: Array<() => void> = [];

export interface FakeEngine {
  server: Server;
  requests: Recorded[];
  state: FakeState;
  close(): Promise<void>;
}

export async function startFakeEngine(socketPath: string, state?: Partial<FakeState>): Promise<FakeEngine> {
  const st: FakeState = { images: new Set(['busybox:latest']), exitCode: 0, output: [[1, 'hello\n'], [2, 'oops\n']], containersRemoved: [], ...state };
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(st, requests, req, Buffer.concat(chunks).toString('utf8'), res));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => handle(st, requests, req, '', undefined, socket));
  // CLIs exit (or drop a hijacked stream) whenever they are done: resets are normal here.
  server.on('connection', (socket) => socket.on('error', () => {}));
  rmSync(socketPath, { force: true });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    server,
    requests,
    state: st,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) {
  const sock = process.argv[2] ?? '/tmp/fake-engine.sock';
  const images = process.argv.includes('--empty') ? new Set<string>() : undefined;
  void startFakeEngine(sock, images ? { images } : {}).then(() => console.error(`fake engine on ${sock}`));
}
