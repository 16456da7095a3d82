// GET /containers/{id}/top: the host's `ps` with the caller's arguments, keeping the lines whose
// PID is one of the container's processes (from the runtime's ps), split into Titles and Processes as
// dockerd's parsePSOutput does (the last column keeps its spaces).
import { execFileCollect } from '../runtime/exec.js';
import { ConflictError, SystemError } from '../util/errors.js';
import type { ContainerManager } from './manager.js';

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

export async function top(m: ContainerManager, idOrName: string, psArgs = '-ef'): Promise<TopResult> {
  const c = m.get(idOrName);
  if (c.state.Status === 'paused') throw new ConflictError(`Container ${c.id} is paused, unpause the container before running top`);
  if (c.state.Status === 'restarting') throw new ConflictError(`Container ${c.id} is restarting, wait until the container is running`);
  if (c.state.Status !== 'running') throw new ConflictError(`Container ${c.id} is not running`);
  const args = psArgs.split(' ').filter((a) => a !== '');
  const pids = new Set(await m.runtime.ps(c.id));
  const ps = await execFileCollect('ps', args);
  if (ps.code !== 0) throw new SystemError(`Error running ps: exit status ${ps.code}: ${ps.stderr.trim() || ps.stdout.trim()}`);
  return parsePsOutput(ps.stdout, pids);
}

export function parsePsOutput(output: string, pids: Set<number>): TopResult {
  const lines = output.split('\n');
  const titles = lines[0].trim().split(/\s+/).filter(Boolean);
  const pidIndex = titles.indexOf('PID');
  if (pidIndex < 0) throw new SystemError("Couldn't find PID field in ps output");
  const processes: string[][] = [];
  const row = (fields: string[]) => [...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')];
  // `ps -m` prints thread lines with "-" as PID under their process.
  let inContainer = false;
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue;
    const fields = line.trim().split(/\s+/);
    if (fields[pidIndex] === '-') {
      if (inContainer) processes.push(row(fields));
      continue;
    }
    const pid = Number(fields[pidIndex]);
    if (!Number.isInteger(pid)) throw new SystemError(`Unexpected pid '${fields[pidIndex]}'`);
    inContainer = pids.has(pid);
    if (inContainer) processes.push(row(fields));
  }
  return { Titles: titles, Processes: processes };
}
