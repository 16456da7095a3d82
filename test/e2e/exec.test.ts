// docker exec through the real docker CLI and berth: streams, stdin, exit codes, options, errors.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pushBusybox } from '../fixtures/images.js';
import type { RunningRegistry } from '../fixtures/registry.js';
import { startStack, type TestDaemon } from './harness.js';

describe('exec', () => {
  let registry: RunningRegistry;
  let daemon: TestDaemon;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  const image = () => `${registry.host}/library/busybox:latest`;

  before(async () => {
    stack = await startStack({ mirror: false, seed: pushBusybox });
    ({ registry, daemon } = stack);
    const run = await daemon.docker(['run', '-d', '--name', 'box', '-e', 'FROM_RUN=1', '-w', '/tmp', image(), 'sleep', '300']);
    assert.equal(run.code, 0, run.stderr);
  });

  after(async () => {
    await stack?.stop();
  });

  for (const cli of ['docker', 'berth'] as const) {
    const x = (args: string[], opts: { input?: string } = {}) => (cli === 'docker' ? daemon.docker(args, opts) : daemon.berth(args, opts));

    test(`${cli}: stdout and stderr arrive apart; the exit code is the process's`, async () => {
      const r = await x(['exec', 'box', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.equal(r.code, 3);
      assert.equal(r.stdout, 'out\n');
      assert.equal(r.stderr, 'err\n');
      const ok = await x(['exec', 'box', 'true']);
      assert.equal(ok.code, 0, ok.stderr);
    });

    test(`${cli}: the container's environment and directory, overridden by -e, -w and -u`, async () => {
      const base = await x(['exec', 'box', 'sh', '-c', 'echo $FROM_RUN; pwd; id -u']);
      assert.equal(base.stdout, '1\n/tmp\n0\n');
      const r = await x(['exec', '-e', 'FROM_RUN=2', '-e', 'EXTRA=x', '-w', '/etc', '-u', 'nobody', 'box', 'sh', '-c', 'echo $FROM_RUN $EXTRA; pwd; id -un']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '2 x\n/etc\nnobody\n');
    });

    test(`${cli}: the exec'd process is in the container's cgroups, as its first process is`, async () => {
      const r = await x(['exec', 'box', 'sh', '-c', 'cat /proc/self/cgroup; echo ==; cat /proc/1/cgroup']);
      assert.equal(r.code, 0, r.stderr);
      const [own, first] = r.stdout.split('==\n');
      assert.match(own, /memory:\/.+/);
      assert.equal(own, first);
    });

    test(`${cli}: -i passes stdin and its end reaches the process`, async () => {
      const r = await x(['exec', '-i', 'box', 'sh', '-c', 'cat; echo "[eof]"'], { input: 'line one\nline two\n' });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'line one\nline two\n[eof]\n');
      const noI = await x(['exec', 'box', 'cat'], { input: 'ignored\n' });
      assert.equal(noI.code, 0);
      assert.equal(noI.stdout, '');
    });

    test(`${cli}: a missing command exits 127, a non-executable one 126, with runc's words`, async () => {
      const missing = await x(['exec', 'box', 'no-such-command']);
      assert.equal(missing.code, 127);
      assert.match(missing.stdout + missing.stderr, /executable file not found in \$PATH/);
      const notExec = await x(['exec', 'box', '/etc/passwd']);
      assert.equal(notExec.code, 126);
      assert.match(notExec.stdout + notExec.stderr, /permission denied/);
    });

    test(`${cli}: an unknown user is refused with exit 126`, async () => {
      const r = await x(['exec', '-u', 'nosuchuser', 'box', 'true']);
      assert.equal(r.code, 126);
      assert.match(r.stdout + r.stderr, /unable to find user nosuchuser: no matching entries in passwd file/);
    });

    test(`${cli}: exec -dt runs a TTY process in the background`, async () => {
      const r = await x(['exec', '-d', '-t', 'box', 'sh', '-c', `tty > /tmp/dt-${cli}`]);
      assert.equal(r.code, 0, r.stderr);
      let content = '';
      for (let i = 0; i < 50 && content === ''; i++) {
        content = (await x(['exec', 'box', 'cat', `/tmp/dt-${cli}`])).stdout;
        if (!content) await new Promise((res) => setTimeout(res, 100));
      }
      assert.match(content, /^\/dev\/pts\/\d+\n$/);
    });

    test(`${cli}: --privileged gets every capability, the default set otherwise`, async () => {
      const plain = await x(['exec', 'box', 'sh', '-c', 'grep CapEff /proc/self/status']);
      assert.match(plain.stdout, /CapEff:\s+00000000a80425fb/);
      const priv = await x(['exec', '--privileged', 'box', 'sh', '-c', 'grep CapEff /proc/self/status']);
      // Every capability berthd holds itself (its CapBnd), whatever this host lets root have.
      const own = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1];
      assert.equal(priv.code, 0, priv.stdout + priv.stderr);
      assert.match(priv.stdout, new RegExp(`CapEff:\\s+${own}`));
    });

    test(`${cli}: -d runs in the background`, async () => {
      const r = await x(['exec', '-d', 'box', 'sh', '-c', `echo ${cli} > /tmp/detached-${cli}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '');
      let content = '';
      for (let i = 0; i < 50 && content === ''; i++) {
        content = (await x(['exec', 'box', 'cat', `/tmp/detached-${cli}`])).stdout;
        if (!content) await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(content, `${cli}\n`);
    });

    test(`${cli}: exec into a stopped or unknown container fails as docker's does`, async () => {
      const created = await x(['create', '--name', `stopped-${cli}`, image(), 'true']).catch(() => undefined);
      if (!created || created.code !== 0) {
        // `create` may be another helper's command: make the stopped container with run.
        const r = await daemon.docker(['run', '--name', `stopped-${cli}`, image(), 'true']);
        assert.equal(r.code, 0, r.stderr);
      }
      const r = await x(['exec', `stopped-${cli}`, 'true']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Error response from daemon: container [0-9a-f]{64} is not running/);
      const unknown = await x(['exec', 'nosuchbox', 'true']);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /No such container: nosuchbox/);
    });
  }

  test('the API: stdin reaches an exec whose start body arrives apart from its headers', async () => {
    // Clients may write the request line and headers, then the JSON body in a second write; berthd
    // then reads the body from the hijacked socket itself, and the stdin after it must still flow.
    const created = await daemon.api('POST', '/containers/box/exec', { Cmd: ['sh', '-c', 'cat; echo "[eof]"'], AttachStdin: true, AttachStdout: true, AttachStderr: true });
    assert.equal(created.status, 201);
    const body = JSON.stringify({ Detach: false, Tty: false });
    const sock = connect(daemon.socket);
    const received: Buffer[] = [];
    const ended = new Promise<void>((resolve) => sock.on('end', resolve));
    sock.on('data', (d: Buffer) => received.push(d));
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    sock.write(`POST /exec/${created.body.Id}/start HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 100));
    sock.write(body);
    for (let i = 0; i < 100 && !Buffer.concat(received).toString('latin1').includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 20));
    sock.end('typed after the upgrade\n');
    const timeout = setTimeout(() => sock.destroy(new Error('no end of stream within 10 s')), 10_000);
    await ended;
    clearTimeout(timeout);
    const raw = Buffer.concat(received);
    assert.match(raw.toString('latin1'), /^HTTP\/1\.1 101/);
    // Multiplexed frames after the headers: 8-byte header (stream, 0, 0, 0, length) then the data.
    let rest = raw.subarray(raw.indexOf('\r\n\r\n') + 4);
    let stdout = '';
    while (rest.length >= 8) {
      const len = rest.readUInt32BE(4);
      if (rest[0] === 1) stdout += rest.subarray(8, 8 + len).toString();
      rest = rest.subarray(8 + len);
    }
    assert.equal(stdout, 'typed after the upgrade\n[eof]\n');
  });

  test('the API: exec create, start, inspect, and its errors', async () => {
    const created = await daemon.api('POST', '/containers/box/exec', { Cmd: ['sh', '-c', 'exit 5'], AttachStdout: true });
    assert.equal(created.status, 201);
    const id = created.body.Id as string;
    assert.match(id, /^[0-9a-f]{64}$/);
    const before = await daemon.api('GET', `/exec/${id}/json`);
    assert.equal(before.status, 200);
    assert.equal(before.body.Running, false);
    assert.equal(before.body.ExitCode, null);
    assert.deepEqual(before.body.ProcessConfig, { tty: false, entrypoint: 'sh', arguments: ['-c', 'exit 5'], privileged: false, user: '' });
    const start = await daemon.api('POST', `/exec/${id}/start`, { Detach: false, Tty: false });
    assert.equal(start.status, 200);
    const afterRun = await daemon.api('GET', `/exec/${id}/json`);
    assert.equal(afterRun.body.Running, false);
    assert.equal(afterRun.body.ExitCode, 5);
    assert.ok(afterRun.body.Pid > 0);
    // A running exec is listed in the container's ExecIDs.
    const bg = await daemon.api('POST', '/containers/box/exec', { Cmd: ['sleep', '3'] });
    assert.equal((await daemon.api('POST', `/exec/${bg.body.Id}/start`, { Detach: true })).status, 200);
    let listed: string[] | null = null;
    for (let i = 0; i < 20 && !listed; i++) {
      listed = (await daemon.api('GET', '/containers/box/json')).body.ExecIDs;
      if (!listed) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(listed, [bg.body.Id]);
    const running = await daemon.api('GET', `/exec/${bg.body.Id}/json`);
    assert.equal(running.body.Running, true);
    const again = await daemon.api('POST', `/exec/${id}/start`, { Detach: false });
    assert.equal(again.status, 409);
    assert.match(again.body.message, /has already run/);

    const empty = await daemon.api('POST', '/containers/box/exec', { Cmd: [] });
    assert.equal(empty.status, 400);
    assert.equal(empty.body.message, 'No exec command specified');
    const missing = await daemon.api('GET', '/exec/0123456789/json');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.message, 'No such exec instance: 0123456789');
    const resize = await daemon.api('POST', '/exec/0123456789/resize?h=10&w=10');
    assert.equal(resize.status, 404);
  });
});
