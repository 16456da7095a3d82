// berth-sys.node's spawnAsync (posix_spawn from the pool) and its rtnetlink calls (bridge, veth pair
// into a namespace), as berthd uses them; the namespace, bridge and pair are this test's own.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { spawnPiped } from '../../src/runtime/piped-child.js';
import { sysAddon, type SysError } from '../../src/runtime/sys.js';

const sys = sysAddon()!;

describe('spawnAsync', () => {
  test('output, exit code, stdin, cwd and environment', async () => {
    const r = await sys.spawnAsync('/bin/sh', ['-c', 'echo out; echo err >&2; cat; pwd; echo "$FOO"; exit 3'], ['FOO=bar', 'PATH=/usr/bin:/bin'], { input: 'typed\n', cwd: '/tmp' });
    assert.equal(r.code, 3);
    assert.equal(r.stdout.toString(), 'out\ntyped\n/tmp\nbar\n');
    assert.equal(r.stderr.toString(), 'err\n');
  });

  test('the child gets no signal mask, only fds 0-2, and a signal death is reported', async () => {
    const r = await sys.spawnAsync('/bin/sh', ['-c', 'grep -E "^Sig(Blk|Ign)" /proc/self/status; ls /proc/self/fd | wc -l'], null);
    assert.match(r.stdout.toString(), /SigBlk:\s+0+\n/);
    // No standard signal ignored (node ignores SIGPIPE; 32 and 33 are glibc's own).
    const ignored = BigInt(`0x${/SigIgn:\s+([0-9a-f]+)/.exec(r.stdout.toString())![1]}`);
    assert.equal(ignored & 0x7fffffffn, 0n);
    assert.equal(r.stdout.toString().trim().split('\n').at(-1), '4'); // 0, 1, 2 and ls's own directory
    const killed = await sys.spawnAsync('/bin/sh', ['-c', 'kill -9 $$'], null);
    assert.deepEqual([killed.code, killed.signal], [-1, 9]);
  });

  test('timeout kills the child; a missing program is an error with errno', async () => {
    const t0 = Date.now();
    const r = await sys.spawnAsync('/bin/sleep', ['10'], null, { timeoutMs: 100 });
    assert.equal(r.timedOut, true);
    assert.ok(Date.now() - t0 < 5000);
    await assert.rejects(sys.spawnAsync('/nonexistent/program', [], null), (err: SysError) => err.errno === 2 && /nonexistent/.test(err.message));
    assert.throws(() => sys.spawnAsync('relative', [], null), TypeError);
  });

  test('syncPipe: returns after the first child exits and one line on fd 3, while its daemon lives on', async () => {
    const t0 = Date.now();
    const r = await sys.spawnAsync('/bin/sh', ['-c', '(sleep 0.2; echo \'{"data": 42}\' >&3; sleep 2) & exit 0'], null, { syncPipe: true, setsid: true });
    assert.equal(r.sync?.toString(), '{"data": 42}\n');
    assert.ok(Date.now() - t0 < 1500, 'did not wait for the daemon to end');
  });
});

describe('spawnPiped (streaming children, reaped on SIGCHLD)', () => {
  const collect = (stream: NodeJS.ReadableStream) => {
    let text = '';
    stream.on('data', (d: Buffer) => (text += d.toString()));
    return () => text;
  };

  test('stdout and stderr apart, stdin and its end, the exit code', async () => {
    const child = spawnPiped('/bin/sh', ['-c', 'echo out; echo err >&2; cat; exit 3'], { stdin: true });
    const out = collect(child.stdout);
    const err = collect(child.stderr);
    child.stdin!.end('typed\n');
    assert.deepEqual(await child.closed, { code: 3, signal: null });
    assert.equal(out(), 'out\ntyped\n');
    assert.equal(err(), 'err\n');
  });

  test('output streams while the child runs; a signal death is reported', async () => {
    const child = spawnPiped('/bin/sh', ['-c', 'echo first; sleep 5; echo never']);
    const first = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())));
    assert.equal(first, 'first\n');
    process.kill(child.pid, 'SIGKILL');
    assert.deepEqual(await child.closed, { code: null, signal: 'SIGKILL' });
  });

  test('a child that closes its output but runs on is waited for', async () => {
    const t0 = Date.now();
    const child = spawnPiped('/bin/sh', ['-c', 'exec >&- 2>&-; sleep 0.3; exit 4']);
    assert.deepEqual(await child.closed, { code: 4, signal: null });
    assert.ok(Date.now() - t0 >= 250, 'resolved before the child exited');
  });

  test('many at once are each reaped with their own status; a missing program throws', async () => {
    const children = Array.from({ length: 20 }, (_, i) => spawnPiped('/bin/sh', ['-c', `exit ${i}`]));
    assert.deepEqual((await Promise.all(children.map((c) => c.closed))).map((e) => e.code), children.map((_, i) => i));
    assert.throws(() => spawnPiped('/nonexistent/program', []), /nonexistent/);
  });
});

describe('bridge and veth by rtnetlink', () => {
  const tag = randomBytes(3).toString('hex');
  const bridge = `btst${tag}`;
  const hostIf = `vtst${tag}`;
  const ns = `berth-test-${tag}`;
  const nsPath = `/run/netns/${ns}`;
  after(() => {
    spawnSync('ip', ['link', 'del', hostIf]);
    spawnSync('ip', ['link', 'del', bridge]);
    spawnSync('ip', ['netns', 'del', ns]);
  });

  test('a bridge with its gateway, a pair into a namespace with address and default route, then deletion', async () => {
    mkdirSync('/run/netns', { recursive: true });
    writeFileSync(nsPath, '');
    await sys.createNetnsAsync(nsPath);
    await sys.bridgeEnsureAsync(bridge, '10.254.77.1', 24, 1500);
    await sys.bridgeEnsureAsync(bridge, '10.254.77.1', 24, 1500); // idempotent
    assert.match(execFileSync('ip', ['-4', 'addr', 'show', bridge], { encoding: 'utf8' }), /inet 10\.254\.77\.1\/24/);
    await sys.vethAttachAsync(hostIf, bridge, nsPath, 'eth0', '02:42:0a:fe:4d:02', '10.254.77.2', 24, '10.254.77.1', 1500);
    const inside = execFileSync('ip', ['-n', ns, 'addr', 'show', 'eth0'], { encoding: 'utf8' });
    assert.match(inside, /link\/ether 02:42:0a:fe:4d:02/);
    assert.match(inside, /inet 10\.254\.77\.2\/24/);
    assert.match(inside, /state UP|LOWER_UP/);
    assert.match(execFileSync('ip', ['-n', ns, 'route'], { encoding: 'utf8' }), /default via 10\.254\.77\.1 dev eth0/);
    assert.ok(existsSync(`/sys/class/net/${bridge}/brif/${hostIf}`), 'host end on the bridge');
    assert.equal(execFileSync('cat', [`/sys/class/net/${hostIf}/brport/hairpin_mode`], { encoding: 'utf8' }).trim(), '1');
    // The gateway answers from inside the namespace.
    const ping = spawnSync('ip', ['netns', 'exec', ns, 'busybox', 'ping', '-c', '1', '-W', '2', '10.254.77.1'], { encoding: 'utf8' });
    assert.equal(ping.status, 0, ping.stderr);
    await assert.rejects(sys.vethAttachAsync(hostIf, bridge, nsPath, 'eth1', '02:42:0a:fe:4d:03', '10.254.77.3', 24, null, 1500), (err: SysError) => err.errno === 17);
    await assert.rejects(sys.vethAttachAsync(`x${hostIf}`, 'nosuchbridge0', nsPath, 'eth1', '02:42:0a:fe:4d:03', '10.254.77.3', 24, null, 1500), (err: SysError) => err.errno === 19);
    await sys.linkDeleteAsync(hostIf);
    assert.ok(!existsSync(`/sys/class/net/${hostIf}`));
    assert.doesNotMatch(execFileSync('ip', ['-n', ns, 'link'], { encoding: 'utf8' }), /eth0/);
    await assert.rejects(sys.linkDeleteAsync(hostIf), (err: SysError) => err.errno === 19);
    assert.throws(() => sys.bridgeEnsureAsync('a-name-longer-than-15', '10.254.77.1', 24, 1500), TypeError);
  });
});
