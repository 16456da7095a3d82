// ps/images --format (src/cli/list-format.ts) against outputs captured from docker 28.2.2 pointed
// at test/cli/fake-engine.ts, plus stop/kill request shapes against a tiny fake daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CONTAINER_HEADERS,
  DEFAULT_IMAGES_FORMAT,
  DEFAULT_PS_FORMAT,
  FormatError,
  IMAGE_HEADERS,
  containerRow,
  goTimeString,
  imageRowsFor,
  renderList,
  tabwrite,
  type ContainerRowInput,
} from '../../src/cli/list-format.js';

const NOW = Date.UTC(2026, 10, 28, 8, 9, 38);
const S = NOW / 1000;

const containers: ContainerRowInput[] = [
  {
    Id: '4f66ad9a0b2e5b6c7d8e9f00112233445566778899aabbccddeeff0011223344',
    Names: ['/happy_turing'],
    Image: 'busybox',
    ImageID: 'sha256:af4709625109aa1d2e2a1b3ad2d8ac84d2c6d0e4d6e4ea1e5c1ee2f2ad5d1f20',
    Command: "sh -c 'while true; do echo hi; sleep 1; done'",
    Created: S - 300,
    Ports: [],
    Labels: {},
    State: 'running',
    Status: 'Up 5 minutes',
    NetworkSettings: { Networks: {} },
    Mounts: [],
  },
  {
    Id: 'b'.repeat(64),
    Names: ['/done_one'],
    Image: 'busybox',
    ImageID: 'sha256:af4709625109aa1d2e2a1b3ad2d8ac84d2c6d0e4d6e4ea1e5c1ee2f2ad5d1f20',
    Command: 'true',
    Created: S - 7200,
    Ports: [],
    Labels: { b: '2', a: '1' },
    State: 'exited',
    Status: 'Exited (0) 2 hours ago',
    NetworkSettings: { Networks: { bridge: {}, app: {} } },
    Mounts: [{ Name: 'averyveryverylongvolumename', Driver: 'local' }],
  },
];

const images = [
  {
    Id: 'sha256:af4709625109aa1d2e2a1b3ad2d8ac84d2c6d0e4d6e4ea1e5c1ee2f2ad5d1f20',
    RepoTags: ['busybox:latest'],
    RepoDigests: ['busybox@sha256:f85340bf132ae937d2c2a763b8335c9bab35d6e8293f70f606b9c6178d84f42b'],
    Created: S - 3 * 7 * 24 * 3600,
    Size: 4261301,
    SharedSize: -1,
    Containers: -1,
  },
];

const psRows = () => containers.map((c) => containerRow(c, { now: NOW, timeZone: 'UTC' }));
const ps = (format: string) => renderList(format, psRows(), CONTAINER_HEADERS, 'ContainerContext');
const img = (format: string, digests = false) => renderList(format, imageRowsFor(images, { now: NOW, timeZone: 'UTC', digests }), IMAGE_HEADERS, 'ImageContext');

test('tabwriter: docker settings, last cell unpadded, column blocks', () => {
  assert.equal(tabwrite('CONTAINER ID\tIMAGE\tNAMES\nabc\tbusybox\tx\n'), 'CONTAINER ID   IMAGE     NAMES\nabc            busybox   x\n');
  // A line without the column ends the block: the next block is aligned on its own.
  assert.equal(tabwrite('a\tb\nlonger-cell-here\tc\nno tabs\nx\ty\n'), 'a                  b\nlonger-cell-here   c\nno tabs\nx         y\n');
  // Runes, not bytes.
  assert.equal(tabwrite('"sh -c \'while true; …"\tz\n'), '"sh -c \'while true; …"   z\n');
});

test('default ps table is docker\'s', () => {
  assert.equal(
    ps(DEFAULT_PS_FORMAT),
    [
      'CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS                   PORTS     NAMES',
      '4f66ad9a0b2e   busybox   "sh -c \'while true; …"   5 minutes ago   Up 5 minutes                       happy_turing',
      'bbbbbbbbbbbb   busybox   "true"                   2 hours ago     Exited (0) 2 hours ago             done_one',
      '',
    ].join('\n'),
  );
});

test('ps table template: header names, \\t escapes, labels/networks/mounts/size', () => {
  assert.equal(
    ps('table {{.ID}}\\t{{.Names}}\\t{{.CreatedAt}}\\t{{.Labels}}\\t{{.Networks}}\\t{{.Size}}'),
    [
      'CONTAINER ID   NAMES          CREATED AT                      LABELS    NETWORKS     SIZE',
      '4f66ad9a0b2e   happy_turing   2026-11-28 08:04:38 +0000 UTC                          0B',
      'bbbbbbbbbbbb   done_one       2026-11-28 06:09:38 +0000 UTC   a=1,b=2   app,bridge   0B',
      '',
    ].join('\n'),
  );
  assert.equal(ps('{{.Mounts}} {{.LocalVolumes}} {{.State}}'), ' 0 running\naveryveryveryl… 1 exited\n');
  assert.equal(ps('table {{.Names}}'), 'NAMES\nhappy_turing\ndone_one\n');
});

test('ps {{json .}} / json: sorted keys, docker field strings', () => {
  const line = ps('json').split('\n')[0];
  assert.equal(
    line,
    '{"Command":"\\"sh -c \'while true; …\\"","CreatedAt":"2026-11-28 08:04:38 +0000 UTC","ID":"4f66ad9a0b2e","Image":"busybox","Labels":"","LocalVolumes":"0","Mounts":"","Names":"happy_turing","Networks":"","Platform":null,"Ports":"","RunningFor":"5 minutes ago","Size":"0B","State":"running","Status":"Up 5 minutes"}',
  );
  assert.equal(ps('{{json .}}').split('\n')[0], line);
  assert.equal(ps('{{json .Names}}'), '"happy_turing"\n"done_one"\n');
});

test('images: default table, templates, json with HTML escaping of the context', () => {
  assert.equal(img(DEFAULT_IMAGES_FORMAT), 'REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\nbusybox      latest    af4709625109   3 weeks ago   4.26MB\n');
  assert.equal(
    img('table {{.ID}}\\t{{.Repository}}:{{.Tag}}\\t{{.CreatedAt}}'),
    'IMAGE ID       REPOSITORY:TAG   CREATED AT\naf4709625109   busybox:latest   2026-11-07 08:09:38 +0000 UTC\n',
  );
  assert.equal(
    img('json'),
    '{"Containers":"N/A","CreatedAt":"2026-11-07 08:09:38 +0000 UTC","CreatedSince":"3 weeks ago","Digest":"\\u003cnone\\u003e","ID":"af4709625109","Repository":"busybox","SharedSize":"N/A","Size":"4.26MB","Tag":"latest","UniqueSize":"N/A","VirtualSize":"4.261MB"}\n',
  );
  assert.equal(img('{{.Digest}}', true), 'sha256:f85340bf132ae937d2c2a763b8335c9bab35d6e8293f70f606b9c6178d84f42b\n');
  assert.equal(renderList('{{.Repository}}:{{.Tag}}', imageRowsFor([{ ...images[0], RepoTags: [], RepoDigests: [] }], { now: NOW }), IMAGE_HEADERS, 'ImageContext'), '<none>:<none>\n');
});

test('unknown fields fail like docker', () => {
  assert.throws(() => ps('table {{.Foo}}'), (e: unknown) => {
    assert.ok(e instanceof FormatError);
    assert.equal(e.message, 'failed to execute template: template: :1:8: executing "" at <.Foo>: can\'t evaluate field Foo in type *formatter.ContainerContext');
    return true;
  });
});

test('Go time.String()', () => {
  assert.equal(goTimeString(S, 'UTC'), '2026-11-28 08:09:38 +0000 UTC');
});

// ---- stop / kill against a tiny daemon ----

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function berth(host: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '-H', host, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('stop/kill: query strings, names echoed, errors on stderr, exit 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-stop-'));
  const sock = join(dir, 'd.sock');
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url?.startsWith('/containers/nosuch/')) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"message":"No such container: nosuch"}');
      return;
    }
    res.writeHead(204);
    res.end();
  });
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    const host = `unix://${sock}`;
    let r = await berth(host, 'stop', '-t', '3', 'web', 'nosuch');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, 'web\n');
    assert.equal(r.stderr, 'Error response from daemon: No such container: nosuch\n');
    assert.ok(seen.includes('POST /containers/web/stop?t=3'), seen.join(', '));
    r = await berth(host, 'kill', '-s', 'HUP', 'web');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'web\n');
    assert.ok(seen.includes('POST /containers/web/kill?signal=HUP'), seen.join(', '));
    r = await berth(host, 'container', 'stop');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^berth: 'berth stop' requires at least 1 argument/);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});
