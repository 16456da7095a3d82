// Resource limits enforced, not just recorded: real containers under runc's cgroups, checked by
// what the kernel does to them (OOM kill, fork failures, CFS throttling) and by cgroup counters.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { containerCgroupsPath, locateCgroup } from '../../src/runtime/cgroups.js';
import { pushBusybox } from '../fixtures/images.js';
import { startStack, type TestDaemon } from './harness.js';

const MiB = 1024 * 1024;

describe('resource limits', () => {
  let daemon: TestDaemon;
  let image: string;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;

  const inspect = async (name: string) => {
    const r = await daemon.api('GET', `/containers/${name}/json`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const stats = async (name: string, query = 'stream=false&one-shot=true') => {
    const r = await daemon.api('GET', `/containers/${name}/stats?${query}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const countContainers = async () => (await daemon.api('GET', '/containers/json?all=1')).body.length as number;

  before(async () => {
    stack = await startStack({ mirror: false, seed: pushBusybox });
    daemon = stack.daemon;
    image = `${stack.registry.host}/library/busybox:latest`;
    const pull = await daemon.docker(['pull', image]);
    assert.equal(pull.code, 0, pull.stderr);
  });

  after(async () => {
    await stack?.stop();
  });

  test('a process past --memory is OOM-killed: exit 137 and State.OOMKilled', async () => {
    // A 64 MiB shell variable in a 16 MiB container without swap.
    const r = await daemon.docker(['run', '--name', 'oom', '-m', '16m', '--memory-swap', '16m', image, 'sh', '-c', 'x=$(head -c 64m /dev/zero | tr "\\0" a); echo survived']);
    assert.equal(r.code, 137, r.stderr);
    assert.doesNotMatch(r.stdout, /survived/);
    const c = await inspect('oom');
    assert.equal(c.State.OOMKilled, true);
    assert.equal(c.State.ExitCode, 137);
    assert.equal(c.HostConfig.Memory, 16 * MiB);
    assert.equal(c.HostConfig.MemorySwap, 16 * MiB);
    const f = await daemon.docker(['inspect', '--format', '{{.State.OOMKilled}}', 'oom']);
    assert.equal(f.stdout.trim(), 'true');
    // The cgroup went with the container.
    assert.equal(existsSync(locateCgroup(containerCgroupsPath(c.Id)).controllers.memory ?? '/nonexistent'), false);
  });

  test('within its limit a container is not OOM-killed; swap defaults to twice the memory', async () => {
    const r = await daemon.docker(['run', '--name', 'fits', '-m', '32m', image, 'sh', '-c', 'x=$(head -c 1m /dev/zero | tr "\\0" a); echo fine']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'fine\n');
    const c = await inspect('fits');
    assert.equal(c.State.OOMKilled, false);
    assert.equal(c.HostConfig.MemorySwap, 64 * MiB);
  });

  test('forks stop at --pids-limit', async () => {
    // A subshell forks until the kernel refuses (busybox sh gives up then); PID 1 then becomes a
    // sleep by exec, which needs no fork, and keeps the orphaned sleeps company.
    const script = '(i=0; while [ $i -lt 100 ]; do sleep 300 & i=$((i+1)); done); echo forked; exec sleep 300';
    const run = await daemon.docker(['run', '-d', '--name', 'forks', '--pids-limit', '12', image, 'sh', '-c', script]);
    assert.equal(run.code, 0, run.stderr);
    let logs = { stdout: '', stderr: '' };
    for (let i = 0; i < 100 && !logs.stdout.includes('forked'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      logs = await daemon.docker(['logs', 'forks']);
    }
    assert.match(logs.stderr, /can't fork/);
    const s = await stats('forks');
    assert.equal(s.pids_stats.limit, 12);
    assert.ok(s.pids_stats.current >= 10 && s.pids_stats.current <= 12, `pids ${s.pids_stats.current}`);
    const ps = await daemon.api('GET', '/containers/forks/json');
    assert.equal(ps.body.State.Running, true);
    assert.equal((await inspect('forks')).HostConfig.PidsLimit, 12);
    assert.equal((await daemon.docker(['rm', '-f', 'forks'])).code, 0);
  });

  /** CPU a busy container used over a window, in cores, and its CFS counters at the end. */
  const busyWindow = async (name: string, cpus: string) => {
    // Two busy loops would take both cores; the quota holds them to cpus x 100 ms per period.
    const run = await daemon.docker(['run', '-d', '--name', name, '--cpus', cpus, image, 'sh', '-c', 'for i in 1 2; do (while :; do :; done) & done; wait']);
    assert.equal(run.code, 0, run.stderr);
    const c = await inspect(name);
    await new Promise((r) => setTimeout(r, 500));
    const a = await stats(name);
    await new Promise((r) => setTimeout(r, 3000));
    const b = await stats(name);
    assert.equal((await daemon.docker(['rm', '-f', name])).code, 0);
    const windowNs = (Date.parse(b.read) - Date.parse(a.read)) * 1e6;
    const cores = (b.cpu_stats.cpu_usage.total_usage - a.cpu_stats.cpu_usage.total_usage) / windowNs;
    return { c, cores, before: a.cpu_stats.throttling_data, after: b.cpu_stats.throttling_data };
  };

  test('--cpus is a CFS quota over 100 ms periods: busy loops get at most that much CPU', async () => {
    const half = await busyWindow('busy-half', '0.5');
    assert.equal(half.c.HostConfig.NanoCpus, 500_000_000);
    assert.ok(half.cores < 0.6, `--cpus 0.5: used ${half.cores.toFixed(2)} of a core`);
    assert.ok(half.after.periods > half.before.periods, 'the CFS bandwidth timer runs');

    // The machine is shared and busy, so the loops may not reach half a core; with a twentieth
    // of one they reach the quota whatever the load, and the kernel's throttling counters show it.
    const tiny = await busyWindow('busy-tiny', '0.05');
    assert.ok(tiny.cores < 0.1, `--cpus 0.05: used ${tiny.cores.toFixed(3)} of a core`);
    assert.ok(tiny.after.throttled_periods > tiny.before.throttled_periods, 'the CFS quota throttled the container');
    assert.ok(tiny.after.throttled_time > tiny.before.throttled_time);
  });

  test('--cpus reaches the cgroup as cfs_quota_us / cfs_period_us', async () => {
    const run = await daemon.docker(['run', '-d', '--name', 'quota', '--cpus', '0.5', image, 'sleep', '300']);
    assert.equal(run.code, 0, run.stderr);
    const c = await inspect('quota');
    const cpuDir = locateCgroup(containerCgroupsPath(c.Id)).controllers.cpu;
    if (cpuDir) {
      assert.equal(readFileSync(join(cpuDir, 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
      assert.equal(readFileSync(join(cpuDir, 'cpu.cfs_period_us'), 'utf8').trim(), '100000');
    } else {
      const dir = locateCgroup(containerCgroupsPath(c.Id)).dir!;
      assert.equal(readFileSync(join(dir, 'cpu.max'), 'utf8').trim(), '50000 100000');
    }
    assert.equal((await daemon.docker(['rm', '-f', 'quota'])).code, 0);
  });

  test('--ulimit is what the container sees; cpu shares, cpuset and reservation reach the cgroup', async () => {
    const r = await daemon.docker(['run', '--rm', '--ulimit', 'nofile=1024:2048', '--ulimit', 'core=0', image, 'sh', '-c', 'ulimit -n; ulimit -Hn; ulimit -c']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '1024\n2048\n0\n');
    const b = await daemon.berth(['run', '--rm', '--ulimit', 'nofile=512', image, 'sh', '-c', 'ulimit -n; ulimit -Hn']);
    assert.equal(b.stdout, '512\n512\n', b.stderr);

    const run = await daemon.docker(['run', '-d', '--name', 'tuned', '--cpu-shares', '512', '--cpuset-cpus', '0', '--memory-reservation', '20m', '-m', '64m', '--memory-swappiness', '7', '--oom-kill-disable', image, 'sleep', '300']);
    assert.equal(run.code, 0, run.stderr);
    const c = await inspect('tuned');
    assert.equal(c.HostConfig.CpuShares, 512);
    assert.equal(c.HostConfig.CpusetCpus, '0');
    assert.equal(c.HostConfig.MemoryReservation, 20 * MiB);
    const loc = locateCgroup(containerCgroupsPath(c.Id));
    if (loc.version === 1) {
      assert.equal(readFileSync(join(loc.controllers.cpu, 'cpu.shares'), 'utf8').trim(), '512');
      assert.equal(readFileSync(join(loc.controllers.cpuset, 'cpuset.cpus'), 'utf8').trim(), '0');
      assert.equal(readFileSync(join(loc.controllers.memory, 'memory.limit_in_bytes'), 'utf8').trim(), String(64 * MiB));
      assert.equal(readFileSync(join(loc.controllers.memory, 'memory.soft_limit_in_bytes'), 'utf8').trim(), String(20 * MiB));
      assert.equal(readFileSync(join(loc.controllers.memory, 'memory.swappiness'), 'utf8').trim(), '7');
      assert.match(readFileSync(join(loc.controllers.memory, 'memory.oom_control'), 'utf8'), /^oom_kill_disable 1$/m);
      assert.equal(c.HostConfig.MemorySwappiness, 7);
      assert.equal(c.HostConfig.OomKillDisable, true);
    }
    const ids = await daemon.docker(['run', '--rm', '--cpuset-cpus', '0', image, 'grep', 'Cpus_allowed_list', '/proc/self/status']);
    assert.match(ids.stdout, /Cpus_allowed_list:\s+0$/m);
    assert.equal((await daemon.docker(['rm', '-f', 'tuned'])).code, 0);
  });

  test("stats: docker's JSON shape and columns, through the docker and berth CLIs", async () => {
    const run = await daemon.docker(['run', '-d', '--name', 'watched', '-m', '64m', image, 'sleep', '300']);
    assert.equal(run.code, 0, run.stderr);
    const s = await stats('watched', 'stream=false');
    assert.equal(s.name, '/watched');
    assert.ok(s.cpu_stats.cpu_usage.total_usage > 0);
    assert.ok(s.precpu_stats.cpu_usage.total_usage > 0, 'stream=false primes precpu_stats');
    assert.ok(s.cpu_stats.system_cpu_usage > s.precpu_stats.system_cpu_usage);
    assert.equal(s.cpu_stats.online_cpus, availableParallelism());
    assert.equal(s.memory_stats.limit, 64 * MiB);
    assert.ok(s.memory_stats.usage > 0);
    assert.equal(typeof s.memory_stats.stats, 'object');
    assert.equal(s.pids_stats.current, 1);
    assert.notEqual(s.preread, '0001-01-01T00:00:00Z');
    const one = await stats('watched');
    assert.equal(one.preread, '0001-01-01T00:00:00Z');
    const bad = await daemon.api('GET', '/containers/watched/stats?stream=true&one-shot=true');
    assert.equal(bad.status, 400);

    const header = /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/;
    const row = /^[0-9a-f]{12}\s+watched\s+\d+\.\d\d%\s+[\d.]+[KMG]?i?B \/ 64MiB\s+\d+\.\d\d%\s+\S+ \/ \S+\s+\S+ \/ \S+\s+1$/;
    for (const cli of [daemon.docker.bind(daemon), daemon.berth.bind(daemon)]) {
      const r = await cli(['stats', '--no-stream', 'watched']);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.match(lines[0], header);
      assert.match(lines[1], row);
    }
    const f = await daemon.berth(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', 'watched']);
    assert.equal(f.stdout, 'watched 1\n');
    // Without --no-stream the table is redrawn every second until interrupted.
    const live = await daemon.berth(['stats', 'watched'], { timeoutMs: 3500 });
    const frames = live.stdout.split('\x1b[2J\x1b[H').filter(Boolean);
    assert.ok(frames.length >= 2, `${frames.length} frames`);
    assert.match(frames[frames.length - 1], /^CONTAINER ID\s+NAME[^\n]*\n[0-9a-f]{12}\s+watched\s/);
    // A stopped container answers zeroes, as dockerd does.
    assert.equal((await daemon.docker(['kill', 'watched'])).code, 0);
    await daemon.docker(['wait', 'watched']);
    const z = await stats('watched', 'stream=false');
    assert.equal(z.read, '0001-01-01T00:00:00Z');
    assert.deepEqual(z.pids_stats, {});
    const missing = await daemon.berth(['stats', '--no-stream', 'nosuch']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such container: nosuch/);
  });

  test("bad limits: docker's messages, status 400 / exit 125, nothing created", async () => {
    const before = await countContainers();
    const n = availableParallelism();
    const cases: Array<[string[], RegExp]> = [
      [['--memory', '1x'], /invalid argument "1x" for "-m, --memory" flag: invalid suffix: 'x'/],
      [['--cpus', '-1'], new RegExp(`Range of CPUs is from 0.01 to ${n}.00, as there are only ${n} CPUs available`)],
      [['--ulimit', 'bogus=1'], /invalid argument "bogus=1" for "--ulimit" flag: invalid ulimit type: bogus/],
      [['--ulimit', 'nofile=20:10'], /ulimit soft limit must be less than or equal to hard limit: 20 > 10/],
      [['-m', '1m'], /Minimum memory limit allowed is 6MB/],
      [['-m', '20m', '--memory-swap', '10m'], /Minimum memoryswap limit should be larger than memory limit, see usage/],
      [['--cpuset-cpus', '99'], /Requested CPUs are not available - requested 99, available: /],
    ];
    for (const [flags, message] of cases) {
      for (const cli of [daemon.docker.bind(daemon), daemon.berth.bind(daemon)]) {
        const r = await cli(['run', '--rm', ...flags, image, 'true']);
        assert.equal(r.code, 125, `${flags.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message);
      }
    }
    const api = await daemon.api('POST', '/containers/create', { Image: image, HostConfig: { Ulimits: [{ Name: 'bogus', Soft: 1, Hard: 1 }] } });
    assert.equal(api.status, 400);
    assert.equal(api.body.message, 'invalid ulimit type: bogus');
    const nano = await daemon.api('POST', '/containers/create', { Image: image, HostConfig: { NanoCpus: 1e9, CpuQuota: 50000 } });
    assert.equal(nano.status, 400);
    assert.equal(nano.body.message, 'Conflicting options: Nano CPUs and CPU Quota cannot both be set');
    assert.equal(await countContainers(), before);
  });
});
