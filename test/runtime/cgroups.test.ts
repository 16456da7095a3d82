// Locating and reading cgroups, for both hierarchies: v1 (this machine) and the v2 unified one,
// whose files are laid out in a temp dir exactly as the kernel names them.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  cgroupVersion,
  locateCgroup,
  oomKillCount,
  parseBlkioV1,
  parseIoStatV2,
  parseMountinfo,
  parseNetDev,
  parseSystemCpuUsage,
  readCgroupStats,
  type CgroupMount,
} from '../../src/runtime/cgroups.js';

const HYBRID = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
37 30 0:34 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const UNIFIED = `25 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const COMOUNTED = `31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 30 0:31 /outer /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
`;

describe('cgroups', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cgroups-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('mountinfo: v1 hierarchies on a hybrid host, v2 on a unified one', () => {
    const hybrid = parseMountinfo(HYBRID);
    assert.equal(cgroupVersion(hybrid), 1);
    assert.deepEqual(hybrid.find((m) => m.mountPoint === '/sys/fs/cgroup/cpu')?.controllers, ['cpu']);
    assert.deepEqual(hybrid.find((m) => m.mountPoint === '/sys/fs/cgroup/systemd')?.controllers, []);
    const loc = locateCgroup('/berth/abc', hybrid);
    assert.equal(loc.version, 1);
    assert.equal(loc.controllers.memory, '/sys/fs/cgroup/memory/berth/abc');
    assert.equal(loc.controllers.cpuacct, '/sys/fs/cgroup/cpuacct/berth/abc');

    const unified = parseMountinfo(UNIFIED);
    assert.equal(cgroupVersion(unified), 2);
    assert.deepEqual(locateCgroup('/berth/abc', unified), { version: 2, dir: '/sys/fs/cgroup/berth/abc', controllers: {} });
  });

  test('co-mounted controllers share a directory; a mount root below / is taken into account', () => {
    const loc = locateCgroup('/outer/berth/abc', parseMountinfo(COMOUNTED));
    assert.equal(loc.controllers.cpu, '/sys/fs/cgroup/cpu,cpuacct/outer/berth/abc');
    assert.equal(loc.controllers.cpuacct, loc.controllers.cpu);
    assert.equal(loc.controllers.memory, '/sys/fs/cgroup/memory/berth/abc');
  });

  test('v1 counters in docker units', async () => {
    const root = join(dir, 'v1');
    const mounts: CgroupMount[] = ['cpu', 'cpuacct', 'memory', 'pids', 'blkio'].map((c) => ({ mountPoint: join(root, c), root: '/', version: 1, controllers: [c] }));
    const loc = locateCgroup('/berth/x', mounts);
    const put = (c: string, f: string, t: string) => {
      mkdirSync(loc.controllers[c], { recursive: true });
      writeFileSync(join(loc.controllers[c], f), t);
    };
    put('cpuacct', 'cpuacct.usage', '3000000000\n');
    put('cpuacct', 'cpuacct.usage_percpu', '1000000000 2000000000 \n');
    put('cpuacct', 'cpuacct.stat', 'user 250\nsystem 50\n');
    put('cpu', 'cpu.stat', 'nr_periods 40\nnr_throttled 12\nthrottled_time 987654\n');
    put('memory', 'memory.usage_in_bytes', '10485760\n');
    put('memory', 'memory.max_usage_in_bytes', '12582912\n');
    put('memory', 'memory.failcnt', '3\n');
    put('memory', 'memory.limit_in_bytes', '16777216\n');
    put('memory', 'memory.stat', 'cache 4096\nrss 8192\ntotal_inactive_file 1048576\n');
    put('memory', 'memory.oom_control', 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    put('pids', 'pids.current', '7\n');
    put('pids', 'pids.max', 'max\n');
    put('blkio', 'blkio.throttle.io_service_bytes_recursive', '8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n');
    const s = await readCgroupStats(loc);
    assert.deepEqual(s.cpu, { total: 3e9, percpu: [1e9, 2e9], user: 2.5e9, kernel: 0.5e9, periods: 40, throttledPeriods: 12, throttledTime: 987654 });
    assert.equal(s.memory.usage, 10485760);
    assert.equal(s.memory.maxUsage, 12582912);
    assert.equal(s.memory.failcnt, 3);
    assert.equal(s.memory.limit, 16777216);
    assert.equal(s.memory.stats.total_inactive_file, 1048576);
    assert.deepEqual(s.pids, { current: 7, limit: 0 });
    assert.deepEqual(s.blkio.map((e) => e.op), ['Read', 'Write', 'Total']);
    assert.equal(await oomKillCount(loc), 2);
  });

  test('v2 counters in docker units; an unlimited memory.max reports the host memory', async () => {
    const cg = join(dir, 'v2', 'berth', 'y');
    mkdirSync(cg, { recursive: true });
    const put = (f: string, t: string) => writeFileSync(join(cg, f), t);
    put('cpu.stat', 'usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 20\nnr_throttled 5\nthrottled_usec 250000\n');
    put('memory.current', '2097152\n');
    put('memory.max', 'max\n');
    put('memory.stat', 'anon 1048576\nfile 1048576\ninactive_file 524288\n');
    put('memory.events', 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n');
    put('pids.current', '3\n');
    put('pids.max', '64\n');
    put('io.stat', '8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n');
    // A unified host: the container's directory is under the cgroup2 mount at /sys/fs/cgroup.
    const loc = locateCgroup('/berth/y', [{ mountPoint: '/sys/fs/cgroup', root: '/', version: 2, controllers: [] }]);
    assert.equal(loc.dir, '/sys/fs/cgroup/berth/y');
    loc.dir = cg;
    const s = await readCgroupStats(loc);
    assert.deepEqual(s.cpu, { total: 1.5e9, user: 1e9, kernel: 0.5e9, periods: 20, throttledPeriods: 5, throttledTime: 250000000 });
    assert.equal(s.memory.usage, 2097152);
    assert.equal(s.memory.maxUsage, undefined);
    assert.ok(s.memory.limit > 2097152, 'host memory as the limit');
    assert.deepEqual(s.pids, { current: 3, limit: 64 });
    assert.deepEqual(s.blkio, [
      { major: 8, minor: 0, op: 'read', value: 4096 },
      { major: 8, minor: 0, op: 'write', value: 0 },
    ]);
    assert.equal(await oomKillCount(loc), 1);
  });

  test('parsers for /proc/stat, net/dev, blkio and io.stat', () => {
    assert.equal(parseSystemCpuUsage('cpu  100 0 50 800 10 0 40 7 0 0\ncpu0 1 2 3\n'), 1000 * 1e7);
    const net = parseNetDev(
      'Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    1500      10    1    2    0     0          0         0      700       5    0    3    0     0       0          0\n',
    );
    assert.deepEqual(net, { eth0: { rx_bytes: 1500, rx_packets: 10, rx_errors: 1, rx_dropped: 2, tx_bytes: 700, tx_packets: 5, tx_errors: 0, tx_dropped: 3 } });
    assert.deepEqual(parseBlkioV1('Total 0\n'), []);
    assert.deepEqual(parseIoStatV2(''), []);
  });
});
