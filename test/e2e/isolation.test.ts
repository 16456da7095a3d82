// What a container sees, checked from inside it: Docker's defaults are enforced, not recorded.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { pushBusybox } from '../fixtures/images.js';
import type { RunningRegistry } from '../fixtures/registry.js';
import { startStack, type TestDaemon } from './harness.js';

describe('container isolation', () => {
  let registry: RunningRegistry;
  let daemon: TestDaemon;
  const image = () => `${registry.host}/library/busybox:latest`;
  const sh = async (script: string) => {
    const r = await daemon.docker(['run', '--rm', image(), 'sh', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  let stack: Awaited<ReturnType<typeof startStack>> | undefined;

  before(async () => {
    stack = await startStack({ mirror: false, seed: pushBusybox });
    ({ registry, daemon } = stack);
    const pull = await daemon.docker(['pull', image()]);
    assert.equal(pull.code, 0, pull.stderr);
  });

  after(async () => {
    await stack?.stop();
  });

  test("exactly Docker's default capability set", async () => {
    const out = await sh('grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status');
    assert.match(out, /^CapEff:\s+00000000a80425fb$/m);
    assert.match(out, /^CapPrm:\s+00000000a80425fb$/m);
    assert.match(out, /^CapBnd:\s+00000000a80425fb$/m);
  });

  test('the default seccomp profile is applied', async () => {
    const out = await sh('grep -E "^Seccomp:" /proc/self/status');
    assert.match(out, /^Seccomp:\s+2$/m);
  });

  test("Docker's masked /proc paths are empty in the container and /proc/sys is read-only", async () => {
    // Which of them the host has depends on its kernel: check every one it has.
    const masked = ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/proc/latency_stats'].filter((p) => existsSync(p));
    assert.ok(masked.length > 0, 'the host has at least one of the masked files');
    const out = await sh(`for f in ${masked.join(' ')}; do wc -c < $f; done; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo writable || echo read-only`);
    assert.deepEqual(out.trim().split('\n'), [...masked.map(() => '0'), 'read-only']);
  });

  test('its own processes, hostname and network namespace: loopback up, and eth0 on the default bridge', async () => {
    const out = await sh('cat /proc/1/cmdline | tr "\\0" " "; echo; ls /proc | grep -c "^[0-9]"; hostname; ls /sys/class/net | tr "\\n" " "; echo; cat /sys/class/net/lo/operstate; ip addr show lo | grep -c "inet 127.0.0.1"');
    const [pid1, procs, hostname, net, loState, loAddr] = out.trim().split('\n');
    assert.match(pid1, /^sh -c /, 'PID 1 is the container\'s own command');
    assert.ok(Number(procs) <= 5, `only the container's processes are visible, saw ${procs}`);
    assert.match(hostname, /^[a-f0-9]{12}$/);
    assert.equal(net, 'eth0 lo ');
    assert.match(loState, /^(unknown|up)$/);
    assert.equal(loAddr, '1');
  });

  test('no host mounts: the rootfs is the image', async () => {
    const out = await sh('ls /; test -e /work && echo leaked || echo clean');
    assert.match(out, /^clean$/m);
    assert.doesNotMatch(out, /^work$/m);
  });

  test('users by name and uid:gid from the image', async () => {
    assert.equal((await daemon.docker(['run', '--rm', '-u', 'nobody', image(), 'id', '-u'])).stdout.trim(), '65534');
    assert.equal((await daemon.docker(['run', '--rm', '-u', '1234:5678', image(), 'sh', '-c', 'id -u; id -g'])).stdout, '1234\n5678\n');
    const unknown = await daemon.docker(['run', '--rm', '-u', 'nosuchuser', image(), 'true']);
    assert.equal(unknown.code, 125);
    assert.match(unknown.stderr, /unable to find user nosuchuser: no matching entries in passwd file/);
  });
});
