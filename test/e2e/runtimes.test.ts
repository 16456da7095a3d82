// OCI runtimes: crun by default where installed (the fast path), runc by name, configured ones
// from daemon.json, and a clear error for a runtime berthd does not know.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { pushBusybox } from '../fixtures/images.js';
import type { RunningRegistry } from '../fixtures/registry.js';
import { startRegistry } from '../fixtures/registry.js';
import { TestDaemon } from './harness.js';

const crunInstalled = existsSync('/usr/bin/crun');

describe('OCI runtimes', () => {
  let registry: RunningRegistry;
  let daemon: TestDaemon;
  let image: string;

  before(async () => {
    registry = await startRegistry();
    await pushBusybox(registry.host);
    image = `${registry.host}/library/busybox:latest`;
    daemon = new TestDaemon({
      insecureRegistries: [registry.host],
      extraConfig: { runtimes: { 'my-runc': { path: '/usr/sbin/runc', runtimeArgs: ['--log-format=json'] } } },
    });
    await daemon.start();
    const pull = await daemon.docker(['pull', '-q', image]);
    assert.equal(pull.code, 0, pull.stderr);
  });

  after(async () => {
    await daemon?.cleanup();
    await registry?.stop();
  });

  test('info lists the runtimes and the default one', async () => {
    const r = await daemon.docker(['info', '--format', '{{.DefaultRuntime}} {{json .Runtimes}}']);
    assert.equal(r.code, 0, r.stderr);
    const [def, json] = [r.stdout.slice(0, r.stdout.indexOf(' ')), r.stdout.slice(r.stdout.indexOf(' ') + 1)];
    const runtimes = JSON.parse(json) as Record<string, { path: string; runtimeArgs?: string[] }>;
    assert.equal(def, crunInstalled ? 'crun' : 'runc');
    assert.ok(runtimes.runc, json);
    assert.deepEqual(runtimes['my-runc'], { path: '/usr/sbin/runc', runtimeArgs: ['--log-format=json'] });
    if (crunInstalled) assert.equal(runtimes.crun.path, '/usr/bin/crun');
  });

  test('each runtime runs a container with the same isolation; inspect names the runtime', async () => {
    const names = ['runc', 'my-runc', ...(crunInstalled ? ['crun'] : [])];
    const capEff: string[] = [];
    for (const rt of names) {
      const run = await daemon.docker(['run', '--name', `on-${rt}`, '--runtime', rt, image, 'sh', '-c', 'grep CapEff /proc/self/status; cat /proc/kcore | wc -c; exit 3']);
      assert.equal(run.code, 3, `${rt}: ${run.stderr}`);
      capEff.push(run.stdout.split('\n')[0]);
      // /proc/kcore is masked (bind-mounted /dev/null): empty.
      assert.equal(run.stdout.split('\n')[1].trim(), '0', `${rt}: ${run.stdout}`);
      const inspect = await daemon.docker(['inspect', '--format', '{{.HostConfig.Runtime}} {{.State.ExitCode}}', `on-${rt}`]);
      assert.equal(inspect.stdout.trim(), `${rt} 3`);
    }
    // Docker's default capability set, whichever runtime applied it.
    for (const c of capEff) assert.equal(c, 'CapEff:\t00000000a80425fb');
    const byDefault = await daemon.docker(['run', '--rm', image, 'true']);
    assert.equal(byDefault.code, 0, byDefault.stderr);
  });

  test('a stopped container of a runtime leaves no state behind in it', async () => {
    const run = await daemon.docker(['run', '-d', '--name', 'long', image, 'sleep', '60']);
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    const rm = await daemon.docker(['rm', '-f', 'long']);
    assert.equal(rm.code, 0, rm.stderr);
    const rt = crunInstalled ? 'crun' : 'runc';
    assert.equal(existsSync(`${daemon.execRoot}/${rt}/${id}`), false);
    // No cgroup of the container is left in the v1 memory hierarchy (or the v2 tree).
    const cgroupRoot = existsSync('/sys/fs/cgroup/memory') ? '/sys/fs/cgroup/memory' : '/sys/fs/cgroup';
    assert.equal(existsSync(`${cgroupRoot}/berth/${id}`), false);
  });

  test('an unknown runtime is a clear error: 400 from the API, 125 from the CLI', async () => {
    const r = await daemon.docker(['run', '--runtime', 'nope', image, 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /unknown or invalid runtime name: nope/);
    const api = await daemon.api('POST', '/containers/create', { Image: image, Cmd: ['true'], HostConfig: { Runtime: 'nope' } });
    assert.equal(api.status, 400);
  });

  test('a daemon.json runtime without a path is refused at start', async () => {
    const bad = new TestDaemon({ extraConfig: { runtimes: { broken: { runtimeArgs: [] } } } });
    try {
      await assert.rejects(bad.start(), /"runtimes" must be an object of runtimes; "broken" needs a "path"/);
    } finally {
      await bad.cleanup();
    }
  });
});
