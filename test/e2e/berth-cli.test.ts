// The quickstart through the berth CLI against a real berthd.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HELLO_TEXT, pushQuickstartImages } from '../fixtures/images.js';
import { startStack, type TestDaemon } from './harness.js';

describe('berth CLI against berthd', () => {
  let daemon: TestDaemon;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;

  before(async () => {
    stack = await startStack({ mirror: true, seed: pushQuickstartImages });
    ({ daemon } = stack);
  });

  after(async () => {
    await stack?.stop();
  });

  test('berth pull busybox prints docker\'s lines', async () => {
    const r = await daemon.berth(['pull', 'busybox']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Using default tag: latest$/m);
    assert.match(r.stdout, /^latest: Pulling from library\/busybox$/m);
    assert.match(r.stdout, /^[a-f0-9]{12}: Pull complete$/m);
    assert.match(r.stdout, /^Status: Downloaded newer image for busybox:latest$/m);
    assert.match(r.stdout, /^docker\.io\/library\/busybox:latest$/m);
    const again = await daemon.berth(['pull', 'busybox']);
    assert.match(again.stdout, /^Status: Image is up to date for busybox:latest$/m);
    assert.doesNotMatch(again.stdout, /Pull complete|Already exists/);
  });

  test('berth run busybox /bin/echo Hello Docker', async () => {
    const r = await daemon.berth(['run', 'busybox', '/bin/echo', 'Hello Docker']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Hello Docker\n');
  });

  test('berth run hello-world pulls on first use', async () => {
    const r = await daemon.berth(['run', '--rm', 'hello-world']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Unable to find image 'hello-world:latest' locally/);
    assert.equal(r.stdout, HELLO_TEXT);
  });

  test('exit codes: the container\'s, 125, 126, 127', async () => {
    assert.equal((await daemon.berth(['run', '--rm', 'busybox', 'sh', '-c', 'exit 3'])).code, 3);
    const missing = await daemon.berth(['run', '--rm', 'busybox', '/no/such/binary']);
    assert.equal(missing.code, 127, missing.stderr);
    const notExec = await daemon.berth(['run', '--rm', 'busybox', '/etc/passwd']);
    assert.equal(notExec.code, 126, notExec.stderr);
    const badImage = await daemon.berth(['run', '--rm', 'Bad//Ref']);
    assert.equal(badImage.code, 125, badImage.stderr);
    assert.match(badImage.stderr, /invalid reference format/);
  });

  test('images, ps -a, logs, inspect, rm, rmi', async () => {
    const images = await daemon.berth(['images']);
    assert.equal(images.code, 0, images.stderr);
    assert.match(images.stdout, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/m);
    assert.match(images.stdout, /^busybox\s+latest\s+[a-f0-9]{12}\s+.+\s+\d+(\.\d+)?[kMG]?B$/m);
    const run = await daemon.berth(['run', '--name', 'talker', 'busybox', 'sh', '-c', 'echo hi there; echo oops >&2']);
    assert.equal(run.code, 0, run.stderr);
    const ps = await daemon.berth(['ps', '-a']);
    assert.match(ps.stdout, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/m);
    assert.match(ps.stdout, /^[a-f0-9]{12}\s+busybox\s+"sh -c 'echo hi ther…"\s+.+Exited \(0\) .+ ago\s+talker$/m);
    const logs = await daemon.berth(['logs', 'talker']);
    assert.equal(logs.stdout, 'hi there\n');
    assert.equal(logs.stderr, 'oops\n');
    const inspect = await daemon.berth(['inspect', 'talker']);
    const [info] = JSON.parse(inspect.stdout) as Array<Record<string, any>>;
    assert.equal(info.Name, '/talker');
    assert.equal(info.State.ExitCode, 0);
    const rm = await daemon.berth(['rm', 'talker']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout, 'talker\n');
    const all = await daemon.berth(['ps', '-a', '-q']);
    for (const id of all.stdout.split('\n').filter(Boolean)) await daemon.berth(['rm', '-f', id]);
    const rmi = await daemon.berth(['rmi', 'busybox']);
    assert.equal(rmi.code, 0, rmi.stderr);
    assert.match(rmi.stdout, /^Untagged: busybox:latest$/m);
    assert.match(rmi.stdout, /^Deleted: sha256:[a-f0-9]{64}$/m);
    const missing = await daemon.berth(['rmi', 'busybox']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such image: busybox/);
  });

  test('a host that does not answer is a clear error, not a hang', async () => {
    const r = await daemon.berth(['-H', 'unix:///nonexistent/berth.sock', 'ps']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Cannot connect to the berth daemon at unix:\/\/\/nonexistent\/berth\.sock/);
  });
});
