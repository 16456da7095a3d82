// The CLI against a fake Engine API on a unix socket: request shapes (query strings, create body,
// the attach upgrade, pull-and-retry on 404) and docker's outputs and exit codes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeEngine, CONTAINER_ID, type FakeEngine } from './fake-engine.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
let dir: string;
let engine: FakeEngine;
let host: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-cli-'));
  host = `unix://${join(dir, 'engine.sock')}`;
  engine = await startFakeEngine(join(dir, 'engine.sock'));
});

after(async () => {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

function berth(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '-H', host, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('run pulls a missing image, retries create, attaches, waits, starts and exits with the status', async () => {
  engine.state.images.delete('alpine:latest');
  engine.state.exitCode = 3;
  engine.requests.length = 0;
  const r = await berth('run', '--rm', '-e', 'A=1', '--name', 'web', '-w', '/tmp', '-u', '1000', '-l', 'k=v', '--hostname', 'h', 'alpine', 'echo', 'hi', '-n');
  engine.state.exitCode = 0;
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, 'hello\n');
  assert.match(r.stderr, /^Unable to find image 'alpine:latest' locally\nlatest: Pulling from library\/alpine\n/);
  assert.match(r.stderr, /Status: Downloaded newer image for alpine:latest\noops\n$/);
  const seq = engine.requests.map((q) => `${q.method} ${q.path}`);
  assert.deepEqual(seq.slice(0, 3), ['POST /containers/create', 'POST /images/create', 'POST /containers/create']);
  assert.deepEqual(new Set(seq.slice(3, 5)), new Set([`POST /containers/${CONTAINER_ID}/attach`, `POST /containers/${CONTAINER_ID}/wait`]));
  assert.equal(seq[5], `POST /containers/${CONTAINER_ID}/start`);
  const create = engine.requests[0];
  assert.deepEqual(create.query, { name: 'web' });
  const body = JSON.parse(create.body);
  assert.equal(body.Image, 'alpine');
  assert.deepEqual(body.Cmd, ['echo', 'hi', '-n']);
  assert.deepEqual(body.Env, ['A=1']);
  assert.equal(body.WorkingDir, '/tmp');
  assert.equal(body.User, '1000');
  assert.equal(body.Hostname, 'h');
  assert.deepEqual(body.Labels, { k: 'v' });
  assert.equal(body.AttachStdout, true);
  assert.equal(body.HostConfig.AutoRemove, true);
  assert.deepEqual(engine.requests[1].query, { fromImage: 'docker.io/library/alpine', tag: 'latest' });
  const attach = engine.requests.find((q) => q.path.endsWith('/attach'))!;
  assert.deepEqual(attach.query, { stream: '1', stdout: '1', stderr: '1' });
  assert.equal(attach.headers.upgrade, 'tcp');
  assert.equal(attach.headers.connection, 'Upgrade');
  assert.deepEqual(engine.requests.find((q) => q.path.endsWith('/wait'))!.query, { condition: 'removed' });
});

test('run -d prints the full id; wait is not used', async () => {
  engine.requests.length = 0;
  const r = await berth('run', '-d', 'busybox');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${CONTAINER_ID}\n`);
  assert.deepEqual(engine.requests.map((q) => q.path), ['/containers/create', `/containers/${CONTAINER_ID}/start`]);
});

test('run maps start errors to docker exit codes', async () => {
  for (const [message, code] of [
    ['failed to create task: exec: "nope": executable file not found in $PATH', 127],
    ['exec /bin/x: permission denied', 126],
    ['something else broke', 125],
  ] as const) {
    engine.state.startError = message;
    const r = await berth('run', 'busybox', 'nope');
    assert.equal(r.code, code, message);
    assert.equal(r.stderr, `berth: Error response from daemon: ${message}\n\nRun 'berth run --help' for more information\n`);
  }
  engine.state.startError = undefined;
});

test('run flag errors exit 125 with docker wording', async () => {
  const r = await berth('run', '--bogus', 'busybox');
  assert.equal(r.code, 125);
  assert.equal(r.stderr, "unknown flag: --bogus\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth run --help' for more information\n");
  const r2 = await berth('run');
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /^berth: 'berth run' requires at least 1 argument/);
});

test('pull prints docker lines and the canonical name', async () => {
  engine.state.images.delete('redis:7');
  const r = await berth('pull', 'redis:7');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    '7: Pulling from library/redis\n9c0abc9c5bd3: Pulling fs layer\na1b2c3d4e5f6: Pulling fs layer\n9c0abc9c5bd3: Download complete\n' +
      '9c0abc9c5bd3: Pull complete\na1b2c3d4e5f6: Download complete\na1b2c3d4e5f6: Pull complete\n' +
      'Digest: sha256:f85340bf132ae937d2c2a763b8335c9bab35d6e8293f70f606b9c6178d84f42b\nStatus: Downloaded newer image for redis:7\ndocker.io/library/redis:7\n',
  );
  const q = await berth('pull', '-q', 'busybox');
  assert.equal(q.stdout, 'docker.io/library/busybox:latest\n');
  const bad = await berth('pull', 'nosuch');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^Error response from daemon: pull access denied/);
});

test('ps and images send docker query strings', async () => {
  engine.requests.length = 0;
  const ps = await berth('ps', '-a', '-q');
  assert.equal(ps.stdout, '4f66ad9a0b2e\nbbbbbbbbbbbb\n');
  assert.deepEqual(engine.requests[0].query, { all: '1' });
  await berth('ps', '-l');
  assert.deepEqual(engine.requests[1].query, { limit: '1' });
  const images = await berth('images');
  assert.match(images.stdout, /^REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\nbusybox      latest    af4709625109   3 weeks ago   4\.26MB\n/);
});

test('logs demultiplexes stdout and stderr', async () => {
  engine.requests.length = 0;
  const r = await berth('logs', '--tail', '5', '-t', 'web');
  assert.equal(r.stdout, 'out line\n');
  assert.equal(r.stderr, 'err line\n');
  const q = engine.requests.find((x) => x.path.endsWith('/logs'))!.query;
  assert.deepEqual(q, { stdout: '1', stderr: '1', timestamps: '1', tail: '5' });
});

test('rm reports each name, errors at the end, exit 1', async () => {
  const r = await berth('rm', '-f', 'a', 'nosuch', 'b');
  assert.equal(r.code, 1);
  assert.equal(r.stdout, 'a\nb\n');
  assert.equal(r.stderr, 'Error response from daemon: No such container: nosuch\n');
});

test('rmi prints Untagged/Deleted lines', async () => {
  const r = await berth('rmi', 'busybox');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Untagged: busybox:latest\nUntagged: busybox@sha256:[0-9a-f]+\nDeleted: sha256:af47/);
});

test('inspect falls back to images and reports missing objects', async () => {
  const r = await berth('inspect', 'busybox', 'nosuch');
  assert.equal(r.code, 1);
  assert.equal(JSON.parse(r.stdout)[0].RepoTags[0], 'busybox:latest');
  assert.match(r.stdout, /^\[\n    \{\n        "Id"/);
  assert.equal(r.stderr, 'Error: No such object: nosuch\n');
  const f = await berth('inspect', '-f', '{{.Name}} {{json .Config.Cmd}}', 'web');
  assert.equal(f.stdout, '/happy_turing ["sh","-c","echo a && echo b"]\n');
});

test('a named host that does not answer is an error, not an autostart', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '-H', `unix://${join(dir, 'none.sock')}`, 'ps'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise((r) => child.on('close', r));
  assert.equal(code, 1);
  assert.equal(stderr, `Cannot connect to the berth daemon at unix://${join(dir, 'none.sock')}. Is the berth daemon running?\n`);
});
