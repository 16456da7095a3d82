// End to end through conmon + runc with a busybox rootfs: logs, exit codes, isolation, users,
// errors, plus the rootfs overlay and netns helpers. Needs root, runc and conmon; skips otherwise.
// Everything runs under its own runc root and temp dirs, and is removed even when a test fails.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readLogEntries } from '../../src/runtime/logs.js';
import { isMounted, mountOverlay, unmount } from '../../src/runtime/mounts.js';
import { createNetns, removeNetns } from '../../src/runtime/netns.js';
import { OciRuntime, RuntimeExecError } from '../../src/runtime/oci-runtime.js';
import { buildSpec, containerEnv, resolveUser, type SpecInput } from '../../src/runtime/spec.js';

const canRun =
  process.getuid?.() === 0 && existsSync('/bin/busybox') && ['/usr/sbin/runc', '/usr/bin/conmon'].every((p) => existsSync(p));
const skip = canRun ? false : 'needs root, /bin/busybox, runc and conmon';

const APPLETS = ['sh', 'echo', 'cat', 'id', 'sleep', 'ls', 'true', 'false', 'ip', 'unshare', 'grep', 'hostname', 'ps'];

function buildRootfs(dir: string): void {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'etc'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev', 'tmp']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync('/bin/busybox', join(dir, 'bin', 'busybox'));
  execFileSync('chmod', ['755', join(dir, 'bin', 'busybox')]);
  for (const a of APPLETS) symlinkSync('busybox', join(dir, 'bin', a));
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n');
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\napp:x:1000:\nwheel:x:10:app\n');
}

interface RunResult {
  code: number;
  oomKilled: boolean;
  stdout: string;
  stderr: string;
  timings: Record<string, number>;
}

describe('runtime end to end (conmon + runc)', { skip }, () => {
  const base = `/run/berth-test-${process.pid}`;
  const rootfs = join(base, 'rootfs');
  const runcRoot = join(base, 'runc');
  const exitDir = join(base, 'exits');
  let runtime: OciRuntime;
  const ids = new Set<string>();
  const netnses = new Set<string>();
  const mountsToUndo = new Set<string>();
  const exits = new Map<string, (code: { code: number; oomKilled: boolean }) => void>();
  const early = new Map<string, { code: number; oomKilled: boolean }>();
  let seq = 0;

  before(() => {
    mkdirSync(exitDir, { recursive: true });
    buildRootfs(rootfs);
    runtime = new OciRuntime({ runcPath: 'runc', conmonPath: 'conmon', runcRoot, stateDir: join(base, 'conmon') });
    runtime.watchExits(exitDir, (id, code, info) => {
      const waiter = exits.get(id);
      if (waiter) waiter(info);
      else early.set(id, info);
    }, { pollMs: 200 });
  });

  after(async () => {
    runtime?.close();
    for (const id of ids) {
      await runtime.delete(id, { force: true }).catch(() => undefined);
      // conmon exits on its own once the container is gone; make sure no monitor lingers.
      const pidfile = join(base, 'conmon', id, 'conmon.pid');
      if (existsSync(pidfile)) {
        const pid = Number(readFileSync(pidfile, 'utf8'));
        try {
          if (pid > 0) process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const n of netnses) await removeNetns(n).catch(() => undefined);
    for (const m of mountsToUndo) await unmount(m).catch(() => undefined);
    rmSync(base, { recursive: true, force: true });
    // runc delete removes each container's cgroup; the shared parent is ours to remove.
    execFileSync('sh', ['-c', `rmdir /sys/fs/cgroup/*/berth-test-${process.pid} /sys/fs/cgroup/berth-test-${process.pid} 2>/dev/null || true`]);
  });

  function waitExit(id: string, ms = 10_000): Promise<{ code: number; oomKilled: boolean }> {
    const got = early.get(id);
    if (got) return Promise.resolve(got);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`container ${id} did not exit in ${ms} ms`)), ms);
      exits.set(id, (info) => {
        clearTimeout(timer);
        resolve(info);
      });
    });
  }

  async function createStarted(args: string[], over: Partial<SpecInput> & { userSpec?: string; ownNetns?: boolean } = {}) {
    const id = `berth-test-${process.pid}-${++seq}`;
    ids.add(id);
    const bundleDir = join(base, 'bundles', id);
    mkdirSync(bundleDir, { recursive: true });
    const timings: Record<string, number> = {};
    let t = performance.now();
    let netnsPath: string | undefined;
    if (over.ownNetns !== false) {
      const name = `bt${process.pid}-${seq}`;
      netnses.add(name);
      netnsPath = await createNetns(name);
      timings.netns = performance.now() - t;
    }
    const user = await resolveUser(rootfs, over.userSpec ?? '');
    const hostname = 'ctr-' + seq;
    const spec = buildSpec({
      rootfsPath: rootfs,
      args,
      env: containerEnv([], { hostname, tty: false, home: user.home }),
      cwd: '/',
      user,
      hostname,
      terminal: false,
      readonlyRootfs: true,
      netnsPath,
      cgroupsPath: `/berth-test-${process.pid}/${id}`,
      ...over,
    });
    writeFileSync(join(bundleDir, 'config.json'), JSON.stringify(spec));
    const logPath = join(base, 'logs', `${id}.log`);
    mkdirSync(join(base, 'logs'), { recursive: true });
    t = performance.now();
    const created = await runtime.create(id, { bundleDir, logPath, exitDir, name: `test${seq}` });
    timings.create = performance.now() - t;
    t = performance.now();
    await runtime.start(id);
    timings.start = performance.now() - t;
    return { id, logPath, timings, ...created };
  }

  async function run(args: string[], over: Parameters<typeof createStarted>[1] = {}): Promise<RunResult> {
    const c = await createStarted(args, over);
    const exit = await waitExit(c.id);
    let stdout = '';
    let stderr = '';
    for await (const e of readLogEntries(c.logPath)) {
      if (e.stream === 'stdout') stdout += e.line.toString();
      else stderr += e.line.toString();
    }
    await runtime.delete(c.id, { force: true });
    return { ...exit, stdout, stderr, timings: c.timings };
  }

  test('stdout and stderr land in the log separately; exit code 3 is recorded', async (t) => {
    const r = await run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(r.code, 3);
    assert.equal(r.oomKilled, false);
    t.diagnostic(`first container: ${JSON.stringify(Object.fromEntries(Object.entries(r.timings).map(([k, v]) => [k, Math.round(v)])))}`);
  });

  test('latency of netns + conmon create + runc start', async (t) => {
    const samples: Array<Record<string, number>> = [];
    for (let i = 0; i < 5; i++) samples.push((await run(['true'])).timings);
    const med = (k: string) => {
      const v = samples.map((s) => s[k]).sort((a, b) => a - b);
      return Math.round(v[Math.floor(v.length / 2)]);
    };
    t.diagnostic(`median ms: netns=${med('netns')} conmon-create=${med('create')} runc-start=${med('start')}`);
    const noNs: Array<Record<string, number>> = [];
    for (let i = 0; i < 5; i++) noNs.push((await run(['true'], { ownNetns: false })).timings);
    const v = noNs.map((s) => s.create + s.start).sort((a, b) => a - b);
    t.diagnostic(`median ms, runc-made netns: create+start=${Math.round(v[2])}`);
  });

  test('a sleeping container killed with SIGKILL records 137', async () => {
    const c = await createStarted(['sleep', '60']);
    const state = await runtime.state(c.id);
    assert.equal(state?.status, 'running');
    assert.equal(state?.pid, c.pid);
    assert.ok(c.conmonPid > 0);
    assert.ok((await runtime.list()).some((s) => s.id === c.id));
    await runtime.kill(c.id, 'SIGKILL');
    assert.equal((await waitExit(c.id)).code, 137);
    assert.equal(await runtime.readExitCode(exitDir, c.id), 137);
    await runtime.delete(c.id, { force: true });
    assert.equal(await runtime.state(c.id), null);
  });

  test("isolation: Docker's capabilities, hostname, masked and read-only /proc, pid and net namespaces, seccomp", async () => {
    const script = [
      'grep -E "^(CapEff|CapBnd|Seccomp):" /proc/self/status',
      'echo "HOST=$(hostname)"',
      'echo "KCORE=$(cat /proc/kcore | wc -c)"',
      'if echo x > /proc/sys/kernel/domainname 2>/dev/null; then echo PROCSYS=writable; else echo PROCSYS=ro; fi',
      'echo "PIDS=$(ls /proc | grep -E "^[0-9]+$" | tr "\\n" " ")"',
      'echo "NETDEVS=$(ls /sys/class/net | tr "\\n" " ")"',
      'ip -o link show lo | grep -q "UP" && echo LO=up || echo LO=down',
      'if unshare -U true 2>/dev/null; then echo UNSHARE=ok; else echo UNSHARE=denied; fi',
      'echo "NOFILE=$(ulimit -n)"',
    ].join('\n');
    const r = await run(['sh', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    const kv = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/[:=]\s*/, 2) as [string, string]));
    assert.equal(kv.CapEff, '00000000a80425fb');
    assert.equal(kv.CapBnd, '00000000a80425fb');
    assert.equal(kv.Seccomp, '2');
    assert.match(kv.HOST, /^ctr-\d+$/);
    assert.equal(kv.KCORE, '0');
    assert.equal(kv.PROCSYS, 'ro');
    // sh is pid 1; the pipeline's subshells are its own children. Nothing from the host.
    const pids = kv.PIDS.trim().split(' ').map(Number);
    assert.ok(pids.includes(1) && pids.every((p) => p < 100), `pids: ${kv.PIDS}`);
    assert.equal(kv.NETDEVS.trim(), 'lo');
    assert.equal(kv.LO, 'up');
    assert.equal(kv.UNSHARE, 'denied');
    assert.ok(Number(kv.NOFILE) > 1024);

    const unconfined = await run(['sh', '-c', 'grep Seccomp: /proc/self/status; unshare -U true && echo UNSHARE=ok'], { seccompProfile: 'unconfined' });
    assert.match(unconfined.stdout, /Seccomp:\s+0/);
    assert.match(unconfined.stdout, /UNSHARE=ok/, 'the same call succeeds without the profile: seccomp is what denied it');
  });

  test('a netns made by runc also has lo up', async () => {
    const r = await run(['sh', '-c', 'ip -o link show lo | grep -q UP && echo LO=up; ls /sys/class/net'], { ownNetns: false });
    assert.equal(r.stdout, 'LO=up\nlo\n');
  });

  test('users: by name, by uid:gid; non-root gets no effective capabilities', async () => {
    const byName = await run(['sh', '-c', 'id; grep CapEff /proc/self/status'], { userSpec: 'app' });
    assert.match(byName.stdout, /uid=1000\(app\) gid=1000\(app\) groups=/);
    assert.match(byName.stdout, /groups=.*1000\(app\)/);
    assert.match(byName.stdout, /groups=.*10\(wheel\)/);
    assert.match(byName.stdout, /CapEff:\s+0000000000000000/);
    const byIds = await run(['id'], { userSpec: '1000:10' });
    assert.match(byIds.stdout, /uid=1000\(app\) gid=10\(wheel\)/);
  });

  test('a missing executable is a not-found error carrying runc\'s message', async () => {
    await assert.rejects(createStarted(['/no/such/binary']), (err: unknown) => {
      assert.ok(err instanceof RuntimeExecError, String(err));
      assert.equal(err.kind, 'not-found');
      assert.match(err.message, /no such file or directory|executable file not found/);
      return true;
    });
    await assert.rejects(createStarted(['nosuchcommand']), (err: unknown) => err instanceof RuntimeExecError && err.kind === 'not-found' && /executable file not found in \$PATH/.test(err.message));
  });

  test('a non-executable file is a permission error', async () => {
    writeFileSync(join(base, 'noexec-marker'), '');
    await assert.rejects(createStarted(['/etc/passwd']), (err: unknown) => err instanceof RuntimeExecError && err.kind === 'permission');
  });

  test('overlay rootfs: layers, zero layers, and a lowerdir list longer than a page', async (t) => {
    const dir = join(base, 'ovl');
    const layer = (i: number) => {
      // Long names so 40 layers overflow the 4 KiB option page as absolute paths.
      const p = join(dir, 'snapshots', `${String(i).padStart(3, '0')}-${'x'.repeat(60)}`, 'diff');
      mkdirSync(p, { recursive: true });
      writeFileSync(join(p, `f${i}`), String(i));
      writeFileSync(join(p, 'top'), String(i));
      return p;
    };
    const lowers = Array.from({ length: 40 }, (_, i) => layer(i)).reverse(); // top-most first
    const m = { lowerDirs: lowers, upperDir: join(dir, 'c1', 'upper'), workDir: join(dir, 'c1', 'work'), target: join(dir, 'c1', 'merged') };
    mountsToUndo.add(m.target);
    const t0 = performance.now();
    await mountOverlay(m);
    t.diagnostic(`overlay mount (40 layers, relative paths) ${Math.round(performance.now() - t0)} ms`);
    assert.equal(readFileSync(join(m.target, 'top'), 'utf8'), '39');
    assert.equal(readFileSync(join(m.target, 'f0'), 'utf8'), '0');
    await mountOverlay(m); // idempotent
    writeFileSync(join(m.target, 'new'), 'n');
    assert.ok(existsSync(join(m.upperDir, 'new')));
    await unmount(m.target);
    assert.equal(await isMounted(m.target), false);
    await unmount(m.target); // idempotent

    const two = { lowerDirs: lowers.slice(-2), upperDir: join(dir, 'c2', 'upper'), workDir: join(dir, 'c2', 'work'), target: join(dir, 'c2', 'merged') };
    mountsToUndo.add(two.target);
    const t1 = performance.now();
    await mountOverlay(two);
    t.diagnostic(`overlay mount (2 layers) ${Math.round(performance.now() - t1)} ms`);
    assert.equal(readFileSync(join(two.target, 'top'), 'utf8'), '1');
    await unmount(two.target);

    const empty = { lowerDirs: [], upperDir: join(dir, 'c3', 'upper'), workDir: join(dir, 'c3', 'work'), target: join(dir, 'c3', 'merged') };
    mountsToUndo.add(empty.target);
    await mountOverlay(empty);
    assert.equal(await isMounted(empty.target), true);
    writeFileSync(join(empty.target, 'x'), 'x');
    assert.ok(existsSync(join(empty.upperDir, 'x')));
    await unmount(empty.target);
  });

  test('netns: created with lo up, idempotent removal', async (t) => {
    const name = `btn${process.pid}`;
    netnses.add(name);
    const t0 = performance.now();
    const path = await createNetns(name);
    t.diagnostic(`createNetns ${Math.round(performance.now() - t0)} ms`);
    assert.equal(path, `/run/netns/${name}`);
    const links = execFileSync('ip', ['-n', name, '-o', 'link']).toString();
    assert.match(links, /lo: <LOOPBACK,UP/);
    assert.equal(links.trim().split('\n').length, 1);
    const t1 = performance.now();
    await removeNetns(name);
    t.diagnostic(`removeNetns ${Math.round(performance.now() - t1)} ms`);
    assert.equal(existsSync(path), false);
    await removeNetns(name);
  });
});
