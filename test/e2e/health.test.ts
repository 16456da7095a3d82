// Healthchecks through the docker CLI and berth: --health-* flags and the image's HEALTHCHECK,
// State.Health in inspect, "(healthy)" in ps, timeouts, start period, retries, --no-healthcheck.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pushBusybox, pushHealthcheckImage } from '../fixtures/images.js';
import type { RunningRegistry } from '../fixtures/registry.js';
import { startStack, type TestDaemon } from './harness.js';

interface Health {
  Status: string;
  FailingStreak: number;
  Log: Array<{ Start: string; End: string; ExitCode: number; Output: string }>;
}

describe('healthchecks', () => {
  let registry: RunningRegistry;
  let daemon: TestDaemon;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  const image = () => `${registry.host}/library/busybox:latest`;

  const health = async (name: string): Promise<Health | null> => {
    const r = await daemon.docker(['inspect', '-f', '{{json .State.Health}}', name]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Health | null;
  };
  /** Poll until the container's health has `status` (bounded: 30 s). */
  const waitFor = async (name: string, status: string): Promise<Health> => {
    let last: Health | null = null;
    for (let i = 0; i < 150; i++) {
      last = await health(name);
      if (last?.Status === status) return last;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.fail(`${name} never became ${status}: ${JSON.stringify(last)}`);
  };

  before(async () => {
    stack = await startStack({
      mirror: false,
      seed: async (host) => {
        await pushBusybox(host);
        await pushHealthcheckImage(host);
      },
    });
    ({ registry, daemon } = stack);
    const pull = await daemon.docker(['pull', image()]);
    assert.equal(pull.code, 0, pull.stderr);
  });

  after(async () => {
    await stack?.stop();
  });

  test('docker --health-cmd: starting, unhealthy after the retries, healthy once the check passes', async () => {
    const run = await daemon.docker(['run', '-d', '--name', 'hc', '--health-cmd', 'test -e /tmp/ok && echo fine || { echo missing; exit 1; }', '--health-interval', '1s', '--health-retries', '2', image(), 'sleep', '300']);
    assert.equal(run.code, 0, run.stderr);
    const first = await health('hc');
    assert.equal(first?.Status, 'starting');
    const ps = await daemon.docker(['ps', '--format', '{{.Names}} {{.Status}}']);
    assert.match(ps.stdout, /^hc Up .* \(health: starting\)$/m);

    const bad = await waitFor('hc', 'unhealthy');
    assert.ok(bad.FailingStreak >= 2, JSON.stringify(bad));
    const last = bad.Log[bad.Log.length - 1];
    assert.equal(last.ExitCode, 1);
    assert.equal(last.Output, 'missing\n');
    assert.ok(Date.parse(last.End) >= Date.parse(last.Start));

    assert.equal((await daemon.docker(['exec', 'hc', 'touch', '/tmp/ok'])).code, 0);
    const good = await waitFor('hc', 'healthy');
    assert.equal(good.FailingStreak, 0);
    assert.equal(good.Log[good.Log.length - 1].Output, 'fine\n');
    const psAfter = await daemon.docker(['ps', '--format', '{{.Names}} {{.Status}}']);
    assert.match(psAfter.stdout, /^hc Up .* \(healthy\)$/m);

    // Only the last five results are kept.
    await new Promise((r) => setTimeout(r, 5000));
    const later = await health('hc');
    assert.equal(later?.Log.length, 5);
    const cfg = await daemon.docker(['inspect', '-f', '{{json .Config.Healthcheck}}', 'hc']);
    const hc = JSON.parse(cfg.stdout);
    assert.deepEqual(hc.Test, ['CMD-SHELL', 'test -e /tmp/ok && echo fine || { echo missing; exit 1; }']);
    assert.equal(hc.Interval, 1e9);
    assert.equal(hc.Retries, 2);

    // Each change of health is a docker event.
    const until = Math.ceil(Date.now() / 1000) + 1;
    const events = await daemon.docker(['events', '--since', '0', '--until', String(until), '--filter', 'container=hc', '--filter', 'event=health_status', '--format', '{{.Action}}']);
    assert.equal(events.code, 0, events.stderr);
    assert.deepEqual(events.stdout.trim().split('\n'), ['health_status: unhealthy', 'health_status: healthy']);
  });

  test("the image's HEALTHCHECK applies; --no-healthcheck turns it off; flags override its fields", async () => {
    const img = `${registry.host}/test/healthcheck:latest`;
    const run = await daemon.docker(['run', '-d', '--name', 'fromimage', img]);
    assert.equal(run.code, 0, run.stderr);
    await waitFor('fromimage', 'unhealthy');
    assert.equal((await daemon.docker(['exec', 'fromimage', 'touch', '/tmp/healthy'])).code, 0);
    await waitFor('fromimage', 'healthy');

    const off = await daemon.docker(['run', '-d', '--name', 'nocheck', '--no-healthcheck', img]);
    assert.equal(off.code, 0, off.stderr);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(await health('nocheck'), null);
    const ps = await daemon.docker(['ps', '--format', '{{.Names}} {{.Status}}']);
    assert.match(ps.stdout, /^nocheck Up [^(]*$/m);

    const overridden = await daemon.docker(['run', '-d', '--name', 'override', '--health-retries', '7', img]);
    assert.equal(overridden.code, 0, overridden.stderr);
    const cfg = JSON.parse((await daemon.docker(['inspect', '-f', '{{json .Config.Healthcheck}}', 'override'])).stdout);
    assert.deepEqual(cfg.Test, ['CMD-SHELL', 'test -e /tmp/healthy']);
    assert.equal(cfg.Retries, 7);
    assert.equal(cfg.Interval, 1e9);
  });

  test('a check that outlives --health-timeout fails with exit code -1', async () => {
    const run = await daemon.docker(['run', '-d', '--name', 'slow', '--health-cmd', 'sleep 30', '--health-timeout', '500ms', '--health-interval', '1s', '--health-retries', '1', image(), 'sleep', '300']);
    assert.equal(run.code, 0, run.stderr);
    const h = await waitFor('slow', 'unhealthy');
    assert.equal(h.Log[0].ExitCode, -1);
    assert.equal(h.Log[0].Output, 'Health check exceeded timeout (500ms)');
  });

  test('failures within --health-start-period do not count', async () => {
    const run = await daemon.docker(['run', '-d', '--name', 'warming', '--health-cmd', 'false', '--health-interval', '1s', '--health-retries', '1', '--health-start-period', '60s', image(), 'sleep', '300']);
    assert.equal(run.code, 0, run.stderr);
    let h: Health | null = null;
    for (let i = 0; i < 50 && (h?.Log.length ?? 0) < 2; i++) {
      await new Promise((r) => setTimeout(r, 200));
      h = await health('warming');
    }
    assert.ok((h?.Log.length ?? 0) >= 2, JSON.stringify(h));
    assert.equal(h?.Status, 'starting');
    assert.equal(h?.FailingStreak, 0);
  });

  test('berth: --health-cmd, inspect and ps show the health; bad flags are refused', async () => {
    const run = await daemon.berth(['run', '-d', '--name', 'bhc', '--health-cmd', 'true', '--health-interval', '1s', image(), 'sleep', '300']);
    assert.equal(run.code, 0, run.stderr);
    await waitFor('bhc', 'healthy');
    const ps = await daemon.berth(['ps', '--format', '{{.Names}} {{.Status}}']);
    assert.match(ps.stdout, /^bhc Up .* \(healthy\)$/m);
    const insp = await daemon.berth(['inspect', '-f', '{{.State.Health.Status}}', 'bhc']);
    assert.equal(insp.stdout.trim(), 'healthy');

    const countBefore = (await daemon.docker(['ps', '-aq'])).stdout.trim().split('\n').length;
    const conflict = await daemon.berth(['run', '-d', '--no-healthcheck', '--health-cmd', 'true', image()]);
    assert.equal(conflict.code, 125);
    assert.match(conflict.stderr, /--no-healthcheck conflicts with --health-\* options/);
    const negative = await daemon.berth(['run', '-d', '--health-interval', '-1s', '--health-cmd', 'true', image()]);
    assert.equal(negative.code, 125);
    assert.match(negative.stderr, /--health-interval cannot be negative/);
    const bad = await daemon.berth(['run', '-d', '--health-timeout', 'soon', '--health-cmd', 'true', image()]);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid argument "soon" for "--health-timeout" flag/);
    // Nothing was created by the refused runs.
    const all = await daemon.docker(['ps', '-aq']);
    assert.equal(all.stdout.trim().split('\n').length, countBefore, all.stdout);
  });

  test('the health of a stopped container is kept; a new start begins at starting again', async () => {
    const stop = await daemon.docker(['kill', 'bhc']);
    assert.equal(stop.code, 0, stop.stderr);
    await daemon.docker(['wait', 'bhc']);
    const h = await health('bhc');
    assert.equal(h?.Status, 'healthy');
    const ps = await daemon.docker(['ps', '-a', '--format', '{{.Names}} {{.Status}}']);
    assert.match(ps.stdout, /^bhc Exited \(137\)/m);
    const start = await daemon.docker(['start', 'bhc']);
    assert.equal(start.code, 0, start.stderr);
    assert.equal((await health('bhc'))?.Status, 'starting');
    await waitFor('bhc', 'healthy');
  });
});
