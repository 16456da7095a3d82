// GET /containers/{id}/stats: docker's StatsResponse from the container's cgroup (v1 or v2) and
// its network namespace. stream=true sends one object a second; stream=false sends one object
// whose precpu_stats is a reading one second earlier (so CPU % can be computed), unless
// one-shot=true, which answers at once with empty precpu_stats — dockerd's behaviour.
import type { Daemon } from '../daemon/daemon.js';
import type { ContainerRecord } from '../containers/model.js';
import {
  containerCgroupsPath,
  locateCgroup,
  onlineCpus,
  readCgroupStats,
  readNetDev,
  systemCpuUsage,
  type CgroupSample,
} from '../runtime/cgroups.js';
import { InvalidParameterError } from '../util/errors.js';
import type { Router } from './router.js';
import { boolQuery, commonHeaders } from './http.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';
const INTERVAL_MS = 1000;

interface CpuStats {
  cpu_usage: { total_usage: number; percpu_usage?: number[]; usage_in_kernelmode: number; usage_in_usermode: number };
  system_cpu_usage?: number;
  online_cpus?: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

function emptyCpu(): CpuStats {
  return { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
}

const EMPTY_BLKIO = {
  io_service_bytes_recursive: null,
  io_serviced_recursive: null,
  io_queue_recursive: null,
  io_service_time_recursive: null,
  io_wait_time_recursive: null,
  io_merged_recursive: null,
  io_time_recursive: null,
  sectors_recursive: null,
};

/** The zero-valued response dockerd sends for a container that is not running. */
export function emptyStats(c: ContainerRecord): Record<string, unknown> {
  return {
    name: `/${c.name}`,
    id: c.id,
    read: ZERO_TIME,
    preread: ZERO_TIME,
    pids_stats: {},
    blkio_stats: EMPTY_BLKIO,
    num_procs: 0,
    storage_stats: {},
    cpu_stats: emptyCpu(),
    precpu_stats: emptyCpu(),
    memory_stats: {},
  };
}

interface Reading {
  read: string;
  cpu: CpuStats;
  body: Record<string, unknown>;
}

async function sample(c: ContainerRecord): Promise<Reading> {
  const loc = locateCgroup(containerCgroupsPath(c.id));
  const [s, system, networks] = await Promise.all([readCgroupStats(loc), systemCpuUsage(), readNetDev(c.state.Pid)]);
  const read = new Date().toISOString().replace('Z', '000000Z');
  const cpu = cpuStats(s, system);
  const memory: Record<string, unknown> = { usage: s.memory.usage };
  if (s.memory.maxUsage !== undefined) memory.max_usage = s.memory.maxUsage;
  memory.stats = s.memory.stats;
  if (s.memory.failcnt) memory.failcnt = s.memory.failcnt;
  memory.limit = s.memory.limit;
  const pids: Record<string, number> = { current: s.pids.current };
  if (s.pids.limit > 0) pids.limit = s.pids.limit;
  const body: Record<string, unknown> = {
    name: `/${c.name}`,
    id: c.id,
    read,
    preread: ZERO_TIME,
    pids_stats: pids,
    blkio_stats: { ...EMPTY_BLKIO, io_service_bytes_recursive: s.blkio.length ? s.blkio : null },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpu,
    precpu_stats: emptyCpu(),
    memory_stats: memory,
  };
  if (Object.keys(networks).length > 0) body.networks = networks;
  return { read, cpu, body };
}

function cpuStats(s: CgroupSample, system: number): CpuStats {
  const usage: CpuStats['cpu_usage'] = { total_usage: s.cpu.total, usage_in_kernelmode: s.cpu.kernel, usage_in_usermode: s.cpu.user };
  if (s.cpu.percpu) usage.percpu_usage = s.cpu.percpu;
  return {
    cpu_usage: usage,
    system_cpu_usage: system,
    online_cpus: onlineCpus(),
    throttling_data: { periods: s.cpu.periods, throttled_periods: s.cpu.throttledPeriods, throttled_time: s.cpu.throttledTime },
  };
}

const running = (c: ContainerRecord) => c.state.Status === 'running' || c.state.Status === 'paused';

export function registerStatsRoutes(router: Router, daemon: Daemon): void {
  router.add('GET', '/containers/{id}/stats', async (ctx) => {
    const c = daemon.containers.get(ctx.params.id);
    const stream = boolQuery(ctx, 'stream', true);
    const oneShot = boolQuery(ctx, 'one-shot');
    if (stream && oneShot) throw new InvalidParameterError('cannot have stream=true and one-shot=true');
    const res = ctx.res!;
    if (!running(c)) {
      if (!stream) {
        res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/json' });
        res.end(JSON.stringify(emptyStats(c)) + '\n');
        return;
      }
    }
    res.writeHead(200, { ...commonHeaders(), 'Content-Type': 'application/json' });
    let closed = false;
    res.on('close', () => (closed = true));
    const sleep = () => new Promise((r) => setTimeout(r, INTERVAL_MS));
    let prev: Reading | undefined;
    if (!stream && !oneShot && running(c)) {
      // Prime precpu_stats so CPU % can be computed from the single answer.
      prev = await sample(c);
      await sleep();
    }
    for (;;) {
      const current = daemon.containers.find(c.id);
      if (!current || !running(current)) {
        // The container stopped: a stream ends, as dockerd's does.
        if (!stream) res.write(JSON.stringify(emptyStats(c)) + '\n');
        break;
      }
      const r = await sample(current);
      if (prev) {
        r.body.preread = prev.read;
        r.body.precpu_stats = prev.cpu;
      }
      if (closed) break;
      res.write(JSON.stringify(r.body) + '\n');
      if (!stream) break;
      prev = r;
      await sleep();
      if (closed) break;
    }
    res.end();
  });
}
