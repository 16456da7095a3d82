// kill -9 of berthd while a container runs: after a restart nothing acknowledged is lost.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pushBusybox } from '../fixtures/images.js';
import type { RunningRegistry } from '../fixtures/registry.js';
import { startStack, type TestDaemon } from './harness.js';

describe('berthd restarts', () => {
  let registry: RunningRegistry;
  let daemon: TestDaemon;

  let stack: Awaited<ReturnType<typeof startStack>> | undefined;

  before(async () => {
    stack = await startStack({ mirror: false, seed: pushBusybox });
    ({ registry, daemon } = stack);
  });

  after(async () => {
    await stack?.stop();
  });

  test('a running container outlives kill -9 of berthd; its exit is recorded after the restart', async () => {
    const image = `${registry.host}/library/busybox:latest`;
    const run = await daemon.docker(['run', '-d', '--name', 'survivor', image, 'sh', '-c', 'echo started; sleep 8; echo done; exit 7']);
    assert.equal(run.code, 0, run.stderr);
    const exited = await daemon.docker(['run', '--name', 'finished', image, 'true']);
    assert.equal(exited.code, 0, exited.stderr);

    daemon.kill9();
    await daemon.start();

    const ps = await daemon.docker(['ps', '-a', '--format', '{{.Names}} {{.Status}}']);
    assert.match(ps.stdout, /^survivor Up /m);
    assert.match(ps.stdout, /^finished Exited \(0\) /m);
    const wait = await daemon.docker(['wait', 'survivor']);
    assert.equal(wait.stdout.trim(), '7');
    const logs = await daemon.docker(['logs', 'survivor']);
    assert.equal(logs.stdout, 'started\ndone\n');
    const images = await daemon.docker(['images', '--format', '{{.Repository}}']);
    assert.match(images.stdout, /library\/busybox/);
  });
});
