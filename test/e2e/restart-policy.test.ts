// Restart policies (no, always, on-failure[:N], unless-stopped) with docker's back-off and
// RestartCount, a stop by the user ending the loop, and what happens across a berthd restart
// with live-restore on (containers keep running) and off (stopped, then restarted per policy).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pushBusybox } from '../fixtures/images.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { TestDaemon } from './harness.js';

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('restart policies', () => {
  let registry: RunningRegistry;
  let daemon: TestDaemon;
  let plain: TestDaemon;

  before(async () => {
    registry = await startRegistry();
    await pushBusybox(registry.host);
    daemon = new TestDaemon({ mirrors: [registry.url], insecureRegistries: [registry.host], extraConfig: { 'live-restore': false } });
    await daemon.start();
    plain = new TestDaemon({ mirrors: [registry.url], insecureRegistries: [registry.host] });
    await plain.start();
    for (const d of [daemon, plain]) {
      const pull = await d.docker(['pull', 'busybox']);
      assert.equal(pull.code, 0, pull.stderr);
    }
  });

  after(async () => {
    await daemon?.cleanup();
    await plain?.cleanup();
    await registry?.stop();
  });

  const state = async (d: TestDaemon, name: string) => {
    const r = await d.api('GET', `/containers/${name}/json`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as { State: { Status: string; ExitCode: number; Pid: number; Restarting: boolean; Running: boolean }; RestartCount: number; HostConfig: { RestartPolicy: unknown } };
  };

  test('on-failure:2 restarts a failing container twice, then leaves it exited', async () => {
    const run = await daemon.docker(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo try; exit 3']);
    assert.equal(run.code, 0, run.stderr);
    const final = await until('two restarts', async () => {
      const s = await state(daemon, 'flaky');
      return s.RestartCount === 2 && s.State.Status === 'exited' ? s : undefined;
    });
    assert.equal(final.State.ExitCode, 3);
    assert.deepEqual(final.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 2 });
    // Three runs: three lines in the log.
    const logs = await daemon.docker(['logs', 'flaky']);
    assert.equal(logs.stdout, 'try\ntry\ntry\n');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await state(daemon, 'flaky')).RestartCount, 2, 'no third restart');
    // on-failure does not restart a clean exit.
    const ok = await daemon.docker(['run', '-d', '--name', 'clean', '--restart', 'on-failure', 'busybox', 'true']);
    assert.equal(ok.code, 0, ok.stderr);
    await daemon.docker(['wait', 'clean']);
    await new Promise((r) => setTimeout(r, 1000));
    const clean = await state(daemon, 'clean');
    assert.equal(clean.State.Status, 'exited');
    assert.equal(clean.RestartCount, 0);
  });

  test('always: restarts with back-off (status "restarting" between runs); stop ends the loop', async () => {
    const run = await daemon.berth(['run', '-d', '--name', 'looper', '--restart', 'always', 'busybox', 'sh', '-c', 'exit 0']);
    assert.equal(run.code, 0, run.stderr);
    const seen = await until('status restarting', async () => {
      const s = await state(daemon, 'looper');
      return s.State.Status === 'restarting' ? s : undefined;
    });
    assert.equal(seen.State.Restarting, true);
    assert.equal(seen.State.Running, true);
    assert.ok(seen.RestartCount >= 1);
    const ps = await daemon.docker(['ps', '--filter', 'status=restarting', '--format', '{{.Names}} {{.Status}}']);
    assert.match(ps.stdout, /^looper Restarting \(0\) /m);
    const stop = await daemon.docker(['stop', 'looper']);
    assert.equal(stop.code, 0, stop.stderr);
    const stopped = await state(daemon, 'looper');
    assert.equal(stopped.State.Status, 'exited');
    await new Promise((r) => setTimeout(r, 2000));
    const later = await state(daemon, 'looper');
    assert.equal(later.State.Status, 'exited', 'no restart after a stop by the user');
    assert.equal(later.RestartCount, stopped.RestartCount);
    // A start by the user resets the count.
    const start = await daemon.docker(['start', 'looper']);
    assert.equal(start.code, 0, start.stderr);
    assert.ok((await state(daemon, 'looper')).RestartCount <= 1);
    assert.equal((await daemon.docker(['rm', '-f', 'looper'])).code, 0);
  });

  test('bad policies are refused', async () => {
    const bad = await daemon.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { RestartPolicy: { Name: 'sometimes' } } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /invalid restart policy: unknown policy 'sometimes'/);
    const count = await daemon.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 3 } } });
    assert.equal(count.status, 400);
    const rm = await daemon.berth(['run', '--rm', '--restart', 'always', 'busybox', 'true']);
    assert.equal(rm.code, 125);
    assert.match(rm.stderr, /Conflicting options: --restart and --rm/);
    const count2 = await daemon.berth(['run', '-d', '--restart', 'on-failure:many', 'busybox', 'true']);
    assert.equal(count2.code, 125);
    assert.match(count2.stderr, /invalid restart policy format: maximum retry count must be an integer/);
  });

  test('live-restore off: berthd stops containers on SIGTERM and restarts always/unless-stopped ones when it starts', async () => {
    for (const [name, policy] of [['pol-always', 'always'], ['pol-unless', 'unless-stopped'], ['pol-no', 'no'], ['pol-stopped', 'unless-stopped']]) {
      // sleep as PID 1 ignores SIGTERM: a short stop timeout keeps the daemon's shutdown short.
      const r = await daemon.docker(['run', '-d', '--name', name, '--restart', policy, '--stop-timeout', '1', 'busybox', 'sleep', '300']);
      assert.equal(r.code, 0, r.stderr);
    }
    const stopped = await daemon.docker(['stop', '-t', '0', 'pol-stopped']);
    assert.equal(stopped.code, 0, stopped.stderr);
    const pid = (await state(daemon, 'pol-no')).State.Pid;
    await daemon.stopDaemon();
    assert.equal(alive(pid), false, 'live-restore off: the container was stopped with the daemon');
    await daemon.start();
    const statuses = async () => {
      const r = await daemon.docker(['ps', '-a', '--filter', 'name=pol-', '--format', '{{.Names}} {{.State}}']);
      return r.stdout.trim().split('\n').sort().join('\n');
    };
    const after = await until('restarts at daemon start', async () => {
      const s = await statuses();
      return /pol-always running/.test(s) && /pol-unless running/.test(s) ? s : undefined;
    });
    assert.match(after, /pol-no exited/);
    assert.match(after, /pol-stopped exited/, 'a container the user stopped stays stopped');
  });

  test('live-restore on (the default): containers keep running across a clean berthd stop', async () => {
    const r = await plain.docker(['run', '-d', '--name', 'keeps', '--restart', 'always', 'busybox', 'sleep', '300']);
    assert.equal(r.code, 0, r.stderr);
    const pid = (await state(plain, 'keeps')).State.Pid;
    await plain.stopDaemon();
    assert.equal(alive(pid), true, 'the container outlived the daemon');
    await plain.start();
    const s = await state(plain, 'keeps');
    assert.equal(s.State.Status, 'running');
    assert.equal(s.State.Pid, pid);
    assert.equal(s.RestartCount, 0);
  });
});
