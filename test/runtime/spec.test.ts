import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { buildSpec, containerEnv, DEFAULT_CAPABILITIES, defaultSeccomp, mergeEnv, resolveUser } from '../../src/runtime/spec.js';

describe('OCI runtime spec', () => {
  const rootfs = mkdtempSync(join(tmpdir(), 'berth-spec-'));
  after(() => rmSync(rootfs, { recursive: true, force: true }));
  mkdirSync(join(rootfs, 'etc'));
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\napp:x:1000:\nwheel:x:10:app\n');

  const base = {
    rootfsPath: rootfs, args: ['sh'], env: [], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
    hostname: 'abc', terminal: false, cgroupsPath: '/berth/x',
  };

  test("Docker's capabilities, namespaces, masked and read-only paths", () => {
    const spec = buildSpec({ ...base, netnsPath: '/run/netns/x' });
    assert.deepEqual(spec.process.capabilities.effective, DEFAULT_CAPABILITIES);
    assert.equal(spec.process.capabilities.inheritable, undefined);
    assert.deepEqual(spec.linux.namespaces.map((n) => n.type).sort(), ['ipc', 'mount', 'network', 'pid', 'uts']);
    assert.equal(spec.linux.namespaces.find((n) => n.type === 'network')?.path, '/run/netns/x');
    assert.ok(spec.linux.maskedPaths.includes('/proc/kcore'));
    assert.ok(spec.linux.readonlyPaths.includes('/proc/sys'));
    assert.equal(spec.mounts.find((m) => m.destination === '/sys')?.options?.includes('ro'), true);
  });

  test('the seccomp profile keeps only rules for amd64 and the granted capabilities', () => {
    const profile = defaultSeccomp(DEFAULT_CAPABILITIES);
    assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
    assert.deepEqual(profile.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const allowed = new Set(profile.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names));
    assert.ok(allowed.has('read') && allowed.has('clone'));
    assert.ok(!allowed.has('mount'), 'mount needs CAP_SYS_ADMIN');
    assert.ok(!allowed.has('reboot'), 'reboot needs CAP_SYS_BOOT');
    assert.ok(allowed.has('arch_prctl'), 'amd64-only rules are kept');
    assert.ok(!allowed.has('s390_pci_mmio_read'), 's390-only rules are dropped');
    const withAdmin = defaultSeccomp([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']);
    assert.ok(withAdmin.syscalls.some((r) => r.names.includes('mount')));
  });

  test('users resolve from the image, with docker\'s errors', async () => {
    assert.deepEqual(await resolveUser(rootfs, ''), { uid: 0, gid: 0, additionalGids: [0], home: '/root' });
    assert.deepEqual(await resolveUser(rootfs, 'app'), { uid: 1000, gid: 1000, additionalGids: [1000, 10], home: '/home/app' });
    assert.deepEqual(await resolveUser(rootfs, '1000:wheel'), { uid: 1000, gid: 10, additionalGids: [10], home: '/home/app' });
    assert.deepEqual(await resolveUser(rootfs, '4242:4343'), { uid: 4242, gid: 4343, additionalGids: [4343], home: '/' });
    await assert.rejects(resolveUser(rootfs, 'ghost'), /unable to find user ghost: no matching entries in passwd file/);
    await assert.rejects(resolveUser(rootfs, 'app:ghosts'), /unable to find group ghosts: no matching entries in group file/);
  });

  test('a symlinked /etc/passwd is not followed out of the rootfs', async () => {
    const evil = mkdtempSync(join(tmpdir(), 'berth-spec-evil-'));
    try {
      mkdirSync(join(evil, 'etc'));
      symlinkSync('/etc/passwd', join(evil, 'etc', 'passwd'));
      await assert.rejects(resolveUser(evil, 'root'), /unable to find user root/);
    } finally {
      rmSync(evil, { recursive: true, force: true });
    }
  });

  test('environment: image env overridden by the user, then docker\'s additions', () => {
    assert.deepEqual(mergeEnv(['PATH=/bin', 'A=1', 'B=2'], ['A=3', 'C=4', 'B']), ['PATH=/bin', 'A=3', 'C=4']);
    assert.deepEqual(containerEnv(['A=1'], { hostname: 'h', tty: true, home: '/root' }), [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=h', 'TERM=xterm', 'A=1', 'HOME=/root',
    ]);
  });
});
