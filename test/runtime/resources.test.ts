// HostConfig → OCI resources, rlimits, devices, init and security options, with dockerd's checks.
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, test } from 'node:test';
import { checkCreateOptions, checkSignal } from '../../src/containers/create-options.js';
import { applyHostConfig, devicesFor, normaliseResources, parseCpuList, parseUlimit, resourceLimits, specJson } from '../../src/runtime/resources.js';
import { parseSecurityOpts, securitySpecInput, validateSecurity } from '../../src/runtime/security-options.js';
import { buildSpec, effectiveCapabilities } from '../../src/runtime/spec.js';
import { parseCpus, limitsHostConfig, parseUlimitFlag, ramInBytes, securityOpts } from '../../src/cli/limit-flags.js';
import { cpuPercent, memUsage, statsRow } from '../../src/cli/commands/stats.js';

const MiB = 1024 * 1024;
const base = {
  rootfsPath: '/nonexistent', args: ['sh'], env: [], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [] },
  hostname: 'h', terminal: false, cgroupsPath: '/berth/x',
};

describe('resource limits', () => {
  test("memory: swap defaults to twice the limit; dockerd's errors", () => {
    assert.equal(normaliseResources({ Memory: 32 * MiB }).hostConfig.MemorySwap, 64 * MiB);
    assert.equal(normaliseResources({ Memory: 32 * MiB, MemorySwap: -1 }).hostConfig.MemorySwap, -1);
    assert.throws(() => normaliseResources({ Memory: MiB }), { message: 'Minimum memory limit allowed is 6MB', status: 400 } as object);
    assert.throws(() => normaliseResources({ Memory: 32 * MiB, MemorySwap: 16 * MiB }), /Minimum memoryswap limit should be larger than memory limit, see usage/);
    assert.throws(() => normaliseResources({ MemorySwap: 16 * MiB }), /You should always set the Memory limit when using Memoryswap limit/);
    assert.throws(() => normaliseResources({ Memory: 8 * MiB, MemoryReservation: 16 * MiB }), /Minimum memory limit can not be less than memory reservation limit/);
  });

  test('cpus: quota over a 100 ms period; range and conflicts', () => {
    const r = resourceLimits(normaliseResources({ NanoCpus: 5e8 }).hostConfig);
    assert.equal(r.cpuQuota, 50000);
    assert.equal(r.cpuPeriod, 100000);
    const n = availableParallelism();
    assert.throws(() => normaliseResources({ NanoCpus: -1e9 }), { message: `Range of CPUs is from 0.01 to ${n}.00, as there are only ${n} CPUs available` });
    assert.throws(() => normaliseResources({ NanoCpus: 1e9, CpuQuota: 50000 }), /Conflicting options: Nano CPUs and CPU Quota cannot both be set/);
    assert.throws(() => normaliseResources({ CpuPeriod: 10 }), /CPU cfs period can not be less than 1ms/);
    assert.throws(() => normaliseResources({ CpusetCpus: '0-x' }), /Invalid value 0-x for cpuset cpus: invalid format: 0-x/);
    assert.throws(() => normaliseResources({ CpusetCpus: '4096' }), /Requested CPUs are not available - requested 4096, available: /);
    assert.deepEqual([...parseCpuList('0-2,5')], [0, 1, 2, 5]);
    const shares = normaliseResources({ CpuShares: 1 });
    assert.equal(shares.hostConfig.CpuShares, 2);
    assert.deepEqual(shares.warnings, ['Changing requested CPUShares of 1 to minimum allowed of 2']);
  });

  test('swappiness and the OOM killer switch reach linux.resources.memory', () => {
    const { hostConfig } = normaliseResources({ Memory: 32 * MiB, MemorySwappiness: 10, OomKillDisable: true });
    const spec = buildSpec({ ...base, resources: resourceLimits(hostConfig) });
    applyHostConfig(spec, hostConfig);
    assert.deepEqual(spec.linux.resources.memory, { limit: 32 * MiB, swap: 64 * MiB, swappiness: 10, disableOOMKiller: true });
    assert.equal(normaliseResources({ MemorySwappiness: -1 }).hostConfig.MemorySwappiness, null);
    assert.throws(() => normaliseResources({ MemorySwappiness: 101 }), /Invalid value: 101, valid memory swappiness range is 0-100/);
  });

  test('pids: 0 and -1 are unlimited (null), as API 1.40+ records them', () => {
    assert.equal(normaliseResources({ PidsLimit: -1 }).hostConfig.PidsLimit, null);
    assert.equal(normaliseResources({ PidsLimit: 0 }).hostConfig.PidsLimit, null);
    const spec = buildSpec({ ...base, resources: resourceLimits(normaliseResources({ PidsLimit: 20, Memory: 16 * MiB }).hostConfig) });
    assert.deepEqual(spec.linux.resources.pids, { limit: 20 });
    assert.deepEqual(spec.linux.resources.memory, { limit: 16 * MiB, swap: 32 * MiB });
  });

  test("ulimits: go-units' grammar and errors; -1 is RLIM_INFINITY in config.json", () => {
    assert.deepEqual(parseUlimit('nofile=1024:2048'), { Name: 'nofile', Soft: 1024, Hard: 2048 });
    assert.deepEqual(parseUlimit('core=0'), { Name: 'core', Soft: 0, Hard: 0 });
    assert.throws(() => parseUlimit('nofile'), /invalid ulimit argument: nofile/);
    assert.throws(() => parseUlimit('bogus=1'), /invalid ulimit type: bogus/);
    assert.throws(() => parseUlimit('nofile=20:10'), /ulimit soft limit must be less than or equal to hard limit: 20 > 10/);
    assert.throws(() => normaliseResources({ Ulimits: [{ Name: 'bogus', Soft: 1, Hard: 1 }] }), { message: 'invalid ulimit type: bogus', status: 400 } as object);
    const spec = buildSpec(base);
    applyHostConfig(spec, { Ulimits: [{ Name: 'nofile', Soft: 100, Hard: 200 }, { Name: 'core', Soft: -1, Hard: -1 }] });
    assert.deepEqual(spec.process.rlimits.find((r) => r.type === 'RLIMIT_NOFILE'), { type: 'RLIMIT_NOFILE', soft: 100, hard: 200 });
    assert.equal(spec.process.rlimits.filter((r) => r.type === 'RLIMIT_NOFILE').length, 1);
    assert.match(specJson(spec), /\{"type":"RLIMIT_CORE","soft":18446744073709551615,"hard":18446744073709551615\}/);
  });

  test('--init: tini bind-mounted read-only at /sbin/docker-init and put before the command', () => {
    const spec = buildSpec({ ...base, args: ['sleep', '1'] });
    applyHostConfig(spec, { Init: true });
    assert.deepEqual(spec.process.args, ['/sbin/docker-init', '--', 'sleep', '1']);
    const m = spec.mounts.find((x) => x.destination === '/sbin/docker-init');
    assert.deepEqual(m?.options, ['bind', 'ro']);
  });

  test('--device: node and cgroup rule from the host device; a missing one is a 400', () => {
    const { nodes, rules } = devicesFor({ PathOnHost: '/dev/null', PathInContainer: '/dev/mynull', CgroupPermissions: 'rw' });
    assert.deepEqual(nodes.map((n) => [n.path, n.type, n.major, n.minor]), [['/dev/mynull', 'c', 1, 3]]);
    assert.deepEqual(rules, [{ allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }]);
    assert.throws(() => devicesFor({ PathOnHost: '/dev/nope', PathInContainer: '/dev/nope', CgroupPermissions: 'rwm' }), {
      message: 'error gathering device information while adding custom device "/dev/nope": no such file or directory',
      status: 400,
    } as object);
  });

  test('create-time checks: stop signal, inspect defaults', () => {
    checkSignal('SIGUSR1');
    checkSignal('TERM');
    checkSignal('9');
    assert.throws(() => checkSignal('FOO'), { message: 'Invalid signal: FOO', status: 400 } as object);
    const { hostConfig } = checkCreateOptions({}, {});
    assert.equal(hostConfig.ShmSize, 64 * MiB);
    assert.ok((hostConfig.MaskedPaths as string[]).includes('/proc/kcore'));
    assert.equal(checkCreateOptions({}, { Privileged: true }).hostConfig.MaskedPaths, null);
  });
});

describe('security options', () => {
  test("--security-opt as dockerd parses it", () => {
    assert.equal(parseSecurityOpts(['no-new-privileges']).noNewPrivileges, true);
    assert.equal(parseSecurityOpts(['no-new-privileges:true']).noNewPrivileges, true);
    assert.equal(parseSecurityOpts(['no-new-privileges=false']).noNewPrivileges, false);
    assert.equal(parseSecurityOpts(['seccomp=unconfined']).seccomp, 'unconfined');
    const p = parseSecurityOpts(['seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}']).seccomp;
    assert.equal(typeof p === 'object' && p.defaultAction, 'SCMP_ACT_ALLOW');
    assert.throws(() => parseSecurityOpts(['seccomp=/tmp/profile.json']), { message: /^Decoding seccomp profile failed: /, status: 400 } as object);
    assert.throws(() => parseSecurityOpts(['bogus']), { message: 'invalid --security-opt 1: "bogus"' });
    assert.throws(() => parseSecurityOpts(['bogus=1']), { message: 'invalid --security-opt 2: "bogus=1"' });
    assert.throws(() => parseSecurityOpts(['no-new-privileges=maybe']), { message: 'invalid --security-opt 2: "no-new-privileges=maybe"' });
  });

  test('capabilities: with or without CAP_, any case, ALL; unknown ones named as dockerd does', () => {
    assert.ok(effectiveCapabilities({ capAdd: ['net_admin'] }).includes('CAP_NET_ADMIN'));
    assert.ok(!effectiveCapabilities({ capDrop: ['CAP_CHOWN'] }).includes('CAP_CHOWN'));
    assert.deepEqual(effectiveCapabilities({ capDrop: ['ALL'], capAdd: ['kill'] }), ['CAP_KILL']);
    assert.throws(() => validateSecurity({ CapAdd: ['foo'] }), { message: 'unknown capability: "CAP_FOO"', status: 400 } as object);
  });

  test('privileged: no seccomp whatever was asked, every capability the daemon holds', () => {
    const o = securitySpecInput({ Privileged: true, SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ERRNO"}'] });
    const spec = buildSpec({ ...base, ...o });
    assert.equal(spec.linux.seccomp, undefined);
    assert.deepEqual(spec.linux.maskedPaths, []);
    assert.ok(spec.process.capabilities.effective!.length > 14);
    const nnp = buildSpec({ ...base, ...securitySpecInput({ SecurityOpt: ['no-new-privileges'], ReadonlyRootfs: true }) });
    assert.equal(nnp.process.noNewPrivileges, true);
    assert.equal(nnp.root.readonly, true);
  });
});

describe('CLI limit flags and stats columns', () => {
  test("flag values as docker's CLI parses them", () => {
    assert.equal(ramInBytes('512m'), 512 * MiB);
    assert.equal(ramInBytes('1.5g'), 1.5 * 1024 * MiB);
    assert.throws(() => limitsHostConfig({ memory: '1x' }), { message: `invalid argument "1x" for "-m, --memory" flag: invalid suffix: 'x'` });
    assert.equal(ramInBytes('100KiB'), 100 * 1024);
    assert.equal(ramInBytes('4096'), 4096);
    assert.throws(() => ramInBytes('m'), /invalid size: 'm'/);
    assert.throws(() => ramInBytes('1mx'), /invalid suffix: 'mx'/);
    assert.equal(parseCpus('0.5'), 5e8);
    assert.equal(parseCpus('-1'), -1e9);
    assert.throws(() => parseCpus('abc'), /failed to parse abc as a rational number/);
    assert.throws(() => parseCpus('0.0000000001'), /value is too precise/);
    assert.equal(parseCpus('1.5e-1'), 1.5e8);
    assert.throws(() => parseUlimitFlag('bogus=1'), { message: 'invalid argument "bogus=1" for "--ulimit" flag: invalid ulimit type: bogus' });
    const hc = limitsHostConfig({ memory: '64m', memorySwap: '-1', pidsLimit: 10, ulimit: ['nofile=10:20'], capAdd: ['NET_ADMIN'], init: true });
    assert.equal(hc.Memory, 64 * MiB);
    assert.equal(hc.MemorySwap, -1);
    assert.equal(hc.PidsLimit, 10);
    assert.deepEqual(hc.Ulimits, [{ Name: 'nofile', Soft: 10, Hard: 20 }]);
    assert.equal(hc.Init, true);
    assert.throws(() => securityOpts(['seccomp=/nonexistent.json']), /opening seccomp profile \(\/nonexistent.json\) failed/);
  });

  test("CPU % and memory as docker's CLI computes them", () => {
    const s = {
      id: 'a'.repeat(64),
      name: '/web',
      cpu_stats: { cpu_usage: { total_usage: 1_500_000_000 }, system_cpu_usage: 12_000_000_000, online_cpus: 2 },
      precpu_stats: { cpu_usage: { total_usage: 1_000_000_000 }, system_cpu_usage: 10_000_000_000 },
      memory_stats: { usage: 12 * MiB, limit: 64 * MiB, stats: { total_inactive_file: 4 * MiB } },
      pids_stats: { current: 3 },
      blkio_stats: { io_service_bytes_recursive: [{ op: 'Read', value: 4096 }, { op: 'Write', value: 1_500_000 }] },
      networks: { eth0: { rx_bytes: 1300, tx_bytes: 0 } },
    };
    assert.equal(cpuPercent(s), 50);
    assert.equal(memUsage(s), 8 * MiB);
    assert.deepEqual(statsRow(s, 'web', false), {
      Container: 'web', ID: 'aaaaaaaaaaaa', Name: 'web', CPUPerc: '50.00%', MemUsage: '8MiB / 64MiB', MemPerc: '12.50%',
      NetIO: '1.3kB / 0B', BlockIO: '4.1kB / 1.5MB', PIDs: '3',
    });
  });
});
