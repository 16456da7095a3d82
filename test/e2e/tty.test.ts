// stdin, TTYs, attach and signal proxying, through the real docker CLI and berth. TTY cases run the
// CLI on a pseudo-terminal (test/fixtures/pty-run.py) and type into it as a person would.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusybox } from '../fixtures/images.js';
import type { RunningRegistry } from '../fixtures/registry.js';
import { BERTH, REPO_ROOT, runCommand, startStack, type TestDaemon } from './harness.js';

interface PtyStep {
  expect?: string;
  send?: string;
  resize?: [number, number];
}

describe('stdin, TTY and attach', () => {
  let registry: RunningRegistry;
  let daemon: TestDaemon;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  const image = () => `${registry.host}/library/busybox:latest`;

  /** Run a CLI on a pseudo-terminal of rows x cols, following the steps. */
  const onPty = async (cli: 'docker' | 'berth', args: string[], steps: PtyStep[], size: [number, number] = [24, 80]) => {
    const argv = cli === 'docker' ? ['docker', ...args] : [BERTH, ...args];
    const env = cli === 'docker' ? { DOCKER_HOST: daemon.host, DOCKER_CONFIG: join(daemon.dir, 'docker-config') } : { BERTH_HOST: daemon.host };
    const r = await runCommand('python3', [join(REPO_ROOT, 'test', 'fixtures', 'pty-run.py')], {
      input: JSON.stringify({ argv, env, rows: size[0], cols: size[1], steps, timeout: 60 }),
    });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { output: string; code: number; pending: string[] };
  };

  before(async () => {
    stack = await startStack({ mirror: false, seed: pushBusybox });
    ({ registry, daemon } = stack);
    const pull = await daemon.docker(['pull', image()]);
    assert.equal(pull.code, 0, pull.stderr);
  });

  after(async () => {
    await stack?.stop();
  });

  for (const cli of ['docker', 'berth'] as const) {
    const x = (args: string[], opts: { input?: string } = {}) => (cli === 'docker' ? daemon.docker(args, opts) : daemon.berth(args, opts));

    test(`${cli}: run -i passes stdin and its end; the container sees EOF and exits`, async () => {
      const r = await x(['run', '--rm', '-i', image(), 'cat'], { input: 'hi\n' });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'hi\n');
      const wc = await x(['run', '--rm', '-i', image(), 'sh', '-c', 'wc -l; echo done; exit 4'], { input: 'a\nb\nc\n' });
      assert.equal(wc.code, 4);
      assert.equal(wc.stdout.replace(/ +/g, ''), '3\ndone\n');
    });

    test(`${cli}: run -it gets a real terminal of the client's size, resized on SIGWINCH`, async () => {
      const r = await onPty(cli, ['run', '--rm', '-it', image(), 'sh'], [
        { expect: '# ', send: 'tty; stty size\r' },
        { expect: '40 100', resize: [30, 90] },
        { expect: '# ', send: 'sleep 0.5; stty size\r' },
        { expect: '30 90', send: 'exit 3\r' },
      ], [40, 100]);
      assert.deepEqual(r.pending, [], r.output);
      assert.match(r.output, /\/dev\/pts\/0/);
      assert.equal(r.code, 3, r.output);
    });

    test(`${cli}: run -t: the terminal has the client's size before the process starts`, async () => {
      const r = await onPty(cli, ['run', '--rm', '-t', image(), 'stty', 'size'], [], [27, 91]);
      assert.equal(r.code, 0, r.output);
      assert.match(r.output, /^27 91\r+\n/);
    });

    test(`${cli}: run -t without -i: TERM and a terminal, output with CRLF`, async () => {
      const r = await onPty(cli, ['run', '--rm', '-t', image(), 'sh', '-c', 'tty; echo $TERM'], []);
      assert.equal(r.code, 0, r.output);
      assert.match(r.output, /\/dev\/pts\/0\r+\nxterm\r+\n/);
    });

    test(`${cli}: exec -it gets a terminal too`, async () => {
      const run = await x(['run', '-d', '--name', `execbox-${cli}`, image(), 'sleep', '300']);
      assert.equal(run.code, 0, run.stderr);
      const r = await onPty(cli, ['exec', '-it', `execbox-${cli}`, 'sh'], [
        { expect: '# ', send: 'tty; stty size; echo $TERM\r' },
        { expect: 'xterm', send: 'exit 5\r' },
      ], [33, 77]);
      assert.deepEqual(r.pending, [], r.output);
      assert.match(r.output, /\/dev\/pts\/\d+\r\n33 77\r\nxterm/);
      assert.equal(r.code, 5, r.output);
      const notTty = await x(['exec', '-it', `execbox-${cli}`, 'true']);
      assert.equal(notTty.code, 1);
      assert.match(notTty.stderr, /the input device is not a TTY/);
    });
  }

  for (const cli of ['docker', 'berth'] as const) {
  test(`${cli} attach: stdin and output of a running container; ctrl-p ctrl-q detaches and leaves it running`, async () => {
    const run = await daemon.docker(['run', '-dit', '--name', `attached-${cli}`, image(), 'sh']);
    assert.equal(run.code, 0, run.stderr);
    const r = await onPty(cli, ['attach', `attached-${cli}`], [
      { send: 'echo hello-$((6*7))\r' },
      { expect: 'hello-42', send: '\x10\x11' },
    ]);
    assert.deepEqual(r.pending, [], r.output);
    // The docker CLI reports the detach as "read escape sequence" (and exits 1 after it); berth too, with 0.
    assert.match(r.output, /read escape sequence/);
    if (cli === 'berth') assert.equal(r.code, 0, r.output);
    const state = await daemon.docker(['inspect', '-f', '{{.State.Status}}', `attached-${cli}`]);
    assert.equal(state.stdout.trim(), 'running');
    // Attach again: stdin is still open, and the shell's exit ends the attach with its code.
    const again = await onPty(cli, ['attach', `attached-${cli}`], [{ send: 'echo back-$((2*3))\r' }, { expect: 'back-6', send: 'exit 9\r' }]);
    assert.deepEqual(again.pending, [], again.output);
    assert.equal(again.code, 9, again.output);
  });

  test(`${cli} run -it: ctrl-p ctrl-q detaches, the container goes on`, async () => {
    const r = await onPty(cli, ['run', '-it', '--name', `detach-${cli}`, image(), 'sh'], [{ expect: '# ', send: 'echo still-$((1+1))\r' }, { expect: 'still-2', send: '\x10\x11' }]);
    assert.deepEqual(r.pending, [], r.output);
    assert.equal(r.code, 0, r.output);
    const state = await daemon.docker(['inspect', '-f', '{{.State.Status}}', `detach-${cli}`]);
    assert.equal(state.stdout.trim(), 'running');
  });

  test(`${cli} attach to a stopped container is refused`, async () => {
    const run = await daemon.docker(['run', '--name', `ended-${cli}`, image(), 'true']);
    assert.equal(run.code, 0, run.stderr);
    const r = await (cli === 'docker' ? daemon.docker(['attach', `ended-${cli}`]) : daemon.berth(['attach', `ended-${cli}`]));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /You cannot attach to a stopped container, start it first/);
  });
  }

  test('docker start -a -i: stdin to a created container', async () => {
    const created = await daemon.docker(['create', '-i', image(), 'sh', '-c', 'read line; echo "got $line"']);
    assert.equal(created.code, 0, created.stderr);
    const r = await daemon.docker(['start', '-a', '-i', created.stdout.trim()], { input: 'seven\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'got seven\n');
  });

  for (const cli of ['docker', 'berth'] as const) {
    test(`${cli}: --sig-proxy (the default) forwards SIGTERM to the container`, async () => {
      const script = 'trap "echo got-TERM; exit 42" TERM; echo ready; while true; do sleep 0.1; done';
      const runWithSignal = (extra: string[]) =>
        new Promise<{ code: number | null; stdout: string }>((resolve) => {
          const argv = cli === 'docker' ? ['docker'] : [BERTH];
          const env = cli === 'docker' ? { DOCKER_HOST: daemon.host, DOCKER_CONFIG: join(daemon.dir, 'docker-config') } : { BERTH_HOST: daemon.host };
          const child = spawn(argv[0], ['run', '--rm', ...extra, image(), 'sh', '-c', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
          let stdout = '';
          let signalled = false;
          child.stdout.on('data', (d: Buffer) => {
            stdout += d.toString();
            if (!signalled && stdout.includes('ready')) {
              signalled = true;
              child.kill('SIGTERM');
            }
          });
          const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
          child.on('close', (code) => {
            clearTimeout(timer);
            resolve({ code, stdout });
          });
        });
      const proxied = await runWithSignal([]);
      assert.equal(proxied.stdout, 'ready\ngot-TERM\n');
      assert.equal(proxied.code, 42);
    });
  }
});
