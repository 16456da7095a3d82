// berth stats: docker's live resource table (CONTAINER ID, NAME, CPU %, MEM USAGE / LIMIT, MEM %,
// NET I/O, BLOCK I/O, PIDS), computed from GET /containers/{id}/stats as docker's CLI computes it.
import { jsonLines } from '../api-client.js';
import { checkArgs, errorText, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { FormatError, renderList, type Row } from '../list-format.js';
import { bytesSize } from '../format.js';
import { humanSizeWithPrecision } from '../../util/human.js';

const SPEC: CommandSpec = {
  name: 'stats',
  usage: '[OPTIONS] [CONTAINER...]',
  description: 'Display a live stream of container(s) resource usage statistics',
  flags: [
    { long: 'all', short: 'a', type: 'bool', description: 'Show all containers (default shows just running)' },
    { long: 'format', type: 'string', description: "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'" },
    { long: 'no-stream', type: 'bool', description: 'Disable streaming stats and only pull the first result' },
    { long: 'no-trunc', type: 'bool', description: "Do not truncate output" },
  ],
};

export const DEFAULT_STATS_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';

export const STATS_HEADERS: Record<string, string> = {
  Container: 'CONTAINER',
  ID: 'CONTAINER ID',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  NetIO: 'NET I/O',
  BlockIO: 'BLOCK I/O',
  PIDs: 'PIDS',
};

interface CpuStats {
  cpu_usage?: { total_usage?: number; percpu_usage?: number[] };
  system_cpu_usage?: number;
  online_cpus?: number;
}

export interface StatsResponse {
  id?: string;
  name?: string;
  read?: string;
  cpu_stats?: CpuStats;
  precpu_stats?: CpuStats;
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  pids_stats?: { current?: number };
  blkio_stats?: { io_service_bytes_recursive?: Array<{ op: string; value: number }> | null };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
}

/** docker calculateCPUPercentUnix. */
export function cpuPercent(s: StatsResponse): number {
  const cpu = s.cpu_stats ?? {};
  const pre = s.precpu_stats ?? {};
  const cpuDelta = (cpu.cpu_usage?.total_usage ?? 0) - (pre.cpu_usage?.total_usage ?? 0);
  const systemDelta = (cpu.system_cpu_usage ?? 0) - (pre.system_cpu_usage ?? 0);
  const online = cpu.online_cpus || cpu.cpu_usage?.percpu_usage?.length || 0;
  if (systemDelta > 0 && cpuDelta > 0) return (cpuDelta / systemDelta) * online * 100;
  return 0;
}

/** docker calculateMemUsageUnixNoCache: the page cache that can be dropped is not counted. */
export function memUsage(s: StatsResponse): number {
  const m = s.memory_stats ?? {};
  const usage = m.usage ?? 0;
  const v1 = m.stats?.total_inactive_file;
  if (v1 !== undefined && v1 < usage) return usage - v1;
  const v2 = m.stats?.inactive_file ?? 0;
  if (v2 < usage) return usage - v2;
  return usage;
}

export function statsRow(s: StatsResponse, given: string, noTrunc: boolean): Row {
  const usage = memUsage(s);
  const limit = s.memory_stats?.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = e.op.toLowerCase();
    if (op === 'read') read += e.value;
    else if (op === 'write') write += e.value;
  }
  const id = s.id ?? '';
  const size3 = (n: number) => humanSizeWithPrecision(n, 3);
  return {
    Container: given,
    ID: noTrunc ? id : id.slice(0, 12),
    Name: (s.name ?? '').replace(/^\//, '') || '--',
    CPUPerc: `${cpuPercent(s).toFixed(2)}%`,
    MemUsage: `${bytesSize(usage)} / ${bytesSize(limit)}`,
    MemPerc: `${(limit ? (usage / limit) * 100 : 0).toFixed(2)}%`,
    NetIO: `${size3(rx)} / ${size3(tx)}`,
    BlockIO: `${size3(read)} / ${size3(write)}`,
    PIDs: String(s.pids_stats?.current ?? 0),
  };
}

export default async function stats(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 0);
  const client = ctx.client();
  const noTrunc = Boolean(opts.noTrunc);
  let format = (opts.format as string | undefined) ?? '';
  if (format === '' || format === 'table') format = DEFAULT_STATS_FORMAT;

  let targets: string[] = args;
  if (targets.length === 0) {
    const list = await client.json<Array<{ Id: string }>>('GET', '/containers/json', { query: { all: opts.all ? 1 : undefined } });
    targets = (list ?? []).map((c) => c.Id);
  }
  const render = (rows: Row[]): string => {
    try {
      return renderList(format, rows, STATS_HEADERS, 'statsContext');
    } catch (e) {
      if (e instanceof FormatError) throw new StatusError(e.message, 1);
      throw e;
    }
  };

  if (opts.noStream) {
    const errors: string[] = [];
    const results = await Promise.all(
      targets.map((t) =>
        client.json<StatsResponse>('GET', `/containers/${encodeURIComponent(t)}/stats`, { query: { stream: 0 } }).then(
          (s) => statsRow(s, t, noTrunc),
          (err: unknown) => {
            errors.push(errorText(err));
            return undefined;
          },
        ),
      ),
    );
    if (errors.length > 0) throw new StatusError(errors.join('\n'), 1);
    process.stdout.write(render(results.filter((r): r is Row => r !== undefined)));
    return 0;
  }

  // Streaming: one connection per container, the table redrawn every second.
  const latest = new Map<string, Row>();
  for (const t of targets) {
    void (async () => {
      try {
        const res = await client.request('GET', `/containers/${encodeURIComponent(t)}/stats`, { query: { stream: 1 } });
        for await (const s of jsonLines<StatsResponse>(res)) latest.set(t, statsRow(s, t, noTrunc));
      } catch (err) {
        process.stderr.write(`${errorText(err)}\n`);
      }
    })();
  }
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const rows = targets.map((t) => latest.get(t)).filter((r): r is Row => r !== undefined);
    process.stdout.write(`\x1b[2J\x1b[H${render(rows)}`);
  }
}
