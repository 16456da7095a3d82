// Fifty running containers: how long `run -d` takes for all of them, `ps` latency with them up,
// and the memory of the engine that keeps them (berthd + every conmon; dockerd + containerd +
// every containerd-shim), as RSS and PSS from /proc/PID/smaps_rollup.
import { readdirSync, readFileSync } from 'node:fs';
import { psApiMs } from './api-latency.js';

export const FIFTY = Number(process.env.BENCH_CONTAINERS ?? 50);
const PS_RUNS = Number(process.env.BENCH_PS_RUNS ?? 10);

type Run = (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

export interface FiftyFigures {
  startAllMs: number;
  psMs: number;
  /** GET /containers/json straight to the engine's socket (no CLI), when its host was given. */
  psApiMs?: number;
  rssMiB: number;
  pssMiB: number;
  processes: number;
}

/** RSS and PSS (kB) of one process from smaps_rollup (status' VmRSS when rollup is missing). */
export function memoryKb(pid: number): { rss: number; pss: number } {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return { rss: Number(/^Rss:\s+(\d+)/m.exec(text)?.[1] ?? 0), pss: Number(/^Pss:\s+(\d+)/m.exec(text)?.[1] ?? 0) };
  } catch {
    try {
      const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      return { rss, pss: rss };
    } catch {
      return { rss: 0, pss: 0 };
    }
  }
}

/** PIDs whose command line satisfies `match` (argv joined by spaces). */
export function pidsWhere(match: (cmdline: string, comm: string) => boolean): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const comm = readFileSync(`/proc/${p}/comm`, 'utf8').trim();
      if (match(cmdline, comm)) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timed(fn: () => Promise<{ code: number; stderr: string }>): Promise<number> {
  const t = process.hrtime.bigint();
  const r = await fn();
  if (r.code !== 0) throw new Error(`benchmark command failed (${r.code}): ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/**
 * Start FIFTY `sleep` containers one after the other through `cli`, measure, then remove them.
 * `enginePids` is called while they run.
 */
export async function fiftyContainers(cli: Run, image: string, enginePids: () => number[], apiHost?: string): Promise<FiftyFigures> {
  const names = Array.from({ length: FIFTY }, (_, i) => `bench-fifty-${i}`);
  await cli(['rm', '-f', ...names]);
  try {
    const t = process.hrtime.bigint();
    for (const name of names) {
      const r = await cli(['run', '-d', '--name', name, image, 'sleep', '3600']);
      if (r.code !== 0) throw new Error(`run -d ${name} failed: ${r.stderr}`);
    }
    const startAllMs = Number(process.hrtime.bigint() - t) / 1e6;
    await cli(['ps', '-q']);
    const ps: number[] = [];
    for (let i = 0; i < PS_RUNS; i++) ps.push(await timed(() => cli(['ps'])));
    const psApi = apiHost ? await psApiMs(apiHost, PS_RUNS * 2) : undefined;
    // Memory as it stands once the burst is over, for either engine (Go's scavenger and berthd's
    // malloc trim both return freed memory within about a second).
    await new Promise((r) => setTimeout(r, 2000));
    const pids = enginePids();
    let rss = 0;
    let pss = 0;
    for (const pid of pids) {
      const m = memoryKb(pid);
      rss += m.rss;
      pss += m.pss;
    }
    return { startAllMs, psMs: median(ps), psApiMs: psApi, rssMiB: rss / 1024, pssMiB: pss / 1024, processes: pids.length };
  } finally {
    await cli(['rm', '-f', ...names]);
  }
}

/** berthd and the conmon processes of its exec root. */
export function berthPids(berthdPid: number, execRoot: string): number[] {
  return [berthdPid, ...pidsWhere((cmd, comm) => comm === 'conmon' && cmd.includes(execRoot))];
}

/** dockerd, containerd and every containerd-shim. */
export function dockerPids(): number[] {
  return pidsWhere((cmd, comm) => comm === 'dockerd' || comm === 'containerd' || comm.startsWith('containerd-shim') || /containerd-shim/.test(cmd.split(' ')[0] ?? ''));
}
