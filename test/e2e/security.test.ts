// Security options enforced, checked from inside real containers: capability sets, --privileged,
// seccomp (default, unconfined, a profile file), no-new-privileges, --read-only, --hostname,
// --init (tini as PID 1), --device, and what the container can see of the host's mounts.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusybox } from '../fixtures/images.js';
import { startStack, type TestDaemon } from './harness.js';

/** CapEff as /proc/<pid>/status prints it. */
const hex = (v: bigint) => v.toString(16).padStart(16, '0');
const DEFAULT_CAPS = 0xa80425fbn;
/** Docker's masked and read-only /proc paths as mount points in /proc/mounts. */
const MASKED = ' /proc/(kcore|keys|timer_list|sched_debug|latency_stats|acpi|scsi|sys|bus|fs|irq|sysrq-trigger) ';

describe('security options', () => {
  let daemon: TestDaemon;
  let image: string;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'berth-security-'));

  const run = async (flags: string[], script: string, cli: 'docker' | 'berth' = 'docker') => {
    const r = await daemon[cli](['run', '--rm', ...flags, image, 'sh', '-c', script]);
    return r;
  };
  const capEff = async (flags: string[], cli: 'docker' | 'berth' = 'docker') => {
    const r = await run(flags, 'grep ^CapEff /proc/self/status', cli);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split(/\s+/)[1];
  };

  before(async () => {
    stack = await startStack({ mirror: false, seed: pushBusybox });
    daemon = stack.daemon;
    image = `${stack.registry.host}/library/busybox:latest`;
    const pull = await daemon.docker(['pull', image]);
    assert.equal(pull.code, 0, pull.stderr);
  });

  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('--cap-add / --cap-drop change exactly the capabilities named (with or without CAP_, ALL)', async () => {
    assert.equal(await capEff([]), hex(DEFAULT_CAPS));
    assert.equal(await capEff(['--cap-add', 'NET_ADMIN']), hex(DEFAULT_CAPS | (1n << 12n)));
    assert.equal(await capEff(['--cap-drop', 'chown', '--cap-add', 'CAP_SYS_TIME'], 'berth'), hex((DEFAULT_CAPS & ~1n) | (1n << 25n)));
    assert.equal(await capEff(['--cap-drop', 'ALL']), hex(0n));
    assert.equal(await capEff(['--cap-drop', 'ALL', '--cap-add', 'kill'], 'berth'), hex(1n << 5n));
    // Dropped CAP_CHOWN is felt, not only listed.
    const chown = await run(['--cap-drop', 'CHOWN', '--user', '0'], 'touch /f && chown 1234 /f');
    assert.notEqual(chown.code, 0);
    assert.match(chown.stderr, /Operation not permitted/);
    for (const cli of ['docker', 'berth'] as const) {
      const bad = await daemon[cli](['run', '--rm', '--cap-add', 'FOO', image, 'true']);
      assert.equal(bad.code, 125);
      assert.match(bad.stderr, /unknown capability: "CAP_FOO"/);
    }
  });

  test('--privileged: every capability berthd holds, no seccomp, no masked or read-only /proc paths, host devices', async () => {
    const status = readFileSync('/proc/self/status', 'utf8');
    const bounding = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)/m.exec(status)![1]}`);
    const last = BigInt(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
    const all = bounding & ((1n << (last + 1n)) - 1n);
    const r = await run(['--privileged'], `grep -E "^(CapEff|Seccomp):" /proc/self/status; grep -cE "${MASKED}" /proc/mounts; ls /dev/loop0`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^CapEff:\\s+${hex(all)}$`, 'm'));
    assert.match(r.stdout, /^Seccomp:\s+0$/m);
    assert.match(r.stdout, /^0$/m);
    assert.match(r.stdout, /^\/dev\/loop0$/m);
    const plain = await run([], `grep -cE "${MASKED}" /proc/mounts; ls /dev/loop0`);
    assert.match(plain.stdout, /^[1-9]\d*$/m);
    assert.match(plain.stderr, /No such file or directory/);
  });

  test('seccomp: the default profile denies unshare(CLONE_NEWUSER); unconfined allows it', async () => {
    // The first container's filter is compiled by crun, later ones reuse it (run.oci.seccomp_bpf_data):
    // each must be filtered alike, and an unconfined one in between must not be.
    const denied = async () => {
      const r = await daemon.docker(['run', '--rm', image, 'unshare', '-U', 'true']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /unshare\(0x10000000\): Operation not permitted/);
    };
    await denied();
    await denied();
    const unconfined = await daemon.docker(['run', '--rm', '--security-opt', 'seccomp=unconfined', image, 'sh', '-c', 'grep ^Seccomp: /proc/self/status; unshare -U true && echo unshared']);
    assert.equal(unconfined.code, 0, unconfined.stderr);
    assert.match(unconfined.stdout, /^Seccomp:\s+0\nunshared$/m);
    await denied();
  });

  test('seccomp=<file>: the CLI sends the profile, the daemon applies it', async () => {
    const profile = join(dir, 'no-mkdir.json');
    writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }, null, 2));
    for (const cli of ['docker', 'berth'] as const) {
      const r = await daemon[cli](['run', '--name', `seccomp-${cli}`, '--security-opt', `seccomp=${profile}`, image, 'sh', '-c', 'touch /ok && mkdir /nope']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /mkdir: can't create directory '\/nope': Operation not permitted/);
      const opts = await daemon.api('GET', `/containers/seccomp-${cli}/json`);
      assert.equal(opts.body.HostConfig.SecurityOpt.length, 1);
      assert.equal(JSON.parse(opts.body.HostConfig.SecurityOpt[0].slice('seccomp='.length)).defaultAction, 'SCMP_ACT_ALLOW');
    }
    const missing = await daemon.berth(['run', '--rm', '--security-opt', `seccomp=${join(dir, 'none.json')}`, image, 'true']);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /opening seccomp profile \(.*none\.json\) failed/);
    // A path sent straight to the API is not a profile.
    const api = await daemon.api('POST', '/containers/create', { Image: image, HostConfig: { SecurityOpt: [`seccomp=${profile}`] } });
    assert.equal(api.status, 400);
    assert.match(api.body.message, /^Decoding seccomp profile failed: /);
    const bad = await daemon.docker(['run', '--rm', '--security-opt', 'bogus=1', image, 'true']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid --security-opt 2: "bogus=1"/);
  });

  test('no-new-privileges', async () => {
    assert.match((await run([], 'grep NoNewPrivs /proc/self/status')).stdout, /NoNewPrivs:\s+0/);
    assert.match((await run(['--security-opt', 'no-new-privileges'], 'grep NoNewPrivs /proc/self/status')).stdout, /NoNewPrivs:\s+1/);
    assert.match((await run(['--security-opt', 'no-new-privileges:true'], 'grep NoNewPrivs /proc/self/status', 'berth')).stdout, /NoNewPrivs:\s+1/);
  });

  test('--read-only: the rootfs refuses writes; /dev/shm and /proc are still there', async () => {
    const r = await run(['--read-only'], 'touch /x; echo $?; touch /dev/shm/y && echo shm; ls /proc/1/status');
    assert.match(r.stderr, /touch: \/x: Read-only file system/);
    assert.equal(r.stdout, '1\nshm\n/proc/1/status\n');
    const c = await daemon.docker(['run', '--name', 'ro', '--read-only', image, 'true']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal((await daemon.docker(['inspect', '--format', '{{.HostConfig.ReadonlyRootfs}}', 'ro'])).stdout.trim(), 'true');
  });

  test('--hostname is the UTS name, /etc/hostname and HOSTNAME', async () => {
    for (const cli of ['docker', 'berth'] as const) {
      const r = await run(['--hostname', 'web1'], 'hostname; cat /etc/hostname; echo $HOSTNAME', cli);
      assert.equal(r.stdout, 'web1\nweb1\nweb1\n', r.stderr);
    }
  });

  test('--init: tini is PID 1, reaps orphans and forwards signals', async () => {
    const r = await run(['--init'], 'cat /proc/1/cmdline | tr "\\0" " "; echo; (sleep 0.2 &); sleep 1; grep -l "^State:.*zombie" /proc/[0-9]*/status | wc -l');
    assert.equal(r.code, 0, r.stderr);
    const [pid1, zombies] = r.stdout.trim().split('\n');
    assert.equal(pid1.trim(), '/sbin/docker-init -- sh -c cat /proc/1/cmdline | tr "\\0" " "; echo; (sleep 0.2 &); sleep 1; grep -l "^State:.*zombie" /proc/[0-9]*/status | wc -l');
    assert.equal(zombies.trim(), '0');

    // SIGTERM: a sleep that is PID 1 ignores it; under tini it reaches the sleep, which dies of it.
    assert.equal((await daemon.docker(['run', '-d', '--name', 'with-init', '--init', image, 'sleep', '300'])).code, 0);
    assert.equal((await daemon.docker(['kill', '--signal', 'TERM', 'with-init'])).code, 0);
    const waited = await daemon.docker(['wait', 'with-init'], { timeoutMs: 20_000 });
    assert.equal(waited.stdout.trim(), '143');
    const c = await daemon.api('GET', '/containers/with-init/json');
    assert.equal(c.body.HostConfig.Init, true);
    assert.equal(c.body.Path, 'sleep');
  });

  test('--stop-signal is recorded; an unknown signal is refused', async () => {
    assert.equal((await daemon.docker(['create', '--name', 'sig', '--stop-signal', 'SIGUSR1', image, 'true'])).code, 0);
    assert.equal((await daemon.docker(['inspect', '--format', '{{.Config.StopSignal}}', 'sig'])).stdout.trim(), 'SIGUSR1');
    const bad = await daemon.berth(['run', '--rm', '--stop-signal', 'FOO', image, 'true']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /Invalid signal: FOO/);
  });

  test('--device maps one host device with the permissions given', async () => {
    const r = await run(['--device', '/dev/loop0:/dev/xloop:r'], 'ls -l /dev/xloop; head -c 0 /dev/xloop && echo readable; echo x > /dev/xloop || echo not-writable');
    assert.match(r.stdout, /^b.*\s7,\s+0\s.*\/dev\/xloop$/m);
    assert.match(r.stdout, /^readable$/m);
    assert.match(r.stdout, /^not-writable$/m);
    assert.match(r.stderr, /Operation not permitted/);
    const missing = await daemon.docker(['run', '--rm', '--device', '/dev/nope', image, 'true']);
    // docker's CLI maps an error saying "no such file or directory" to 127, as for a missing command.
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /error gathering device information while adding custom device "\/dev\/nope": no such file or directory/);
  });

  test("no host mounts: the container's mount table holds only its own filesystems", async () => {
    const r = await run([], 'cat /proc/mounts');
    assert.equal(r.code, 0, r.stderr);
    const points = r.stdout.trim().split('\n').map((l) => l.split(' ')[1]);
    const allowed = /^(\/|\/proc(\/.*)?|\/dev|\/dev\/pts|\/dev\/mqueue|\/dev\/shm|\/sys|\/sys\/fs\/cgroup(\/.*)?|\/sys\/firmware|\/sys\/devices\/virtual\/powercap|\/etc\/(resolv\.conf|hostname|hosts))$/;
    for (const p of points) assert.match(p, allowed);
    assert.equal(points.filter((p) => p === '/').length, 1);
  });
});
