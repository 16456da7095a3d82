// A network namespace per container, with loopback up: what docker's `--network none` gives,
// and the handle the network plugins will attach to later.
import { existsSync } from 'node:fs';
import { execChecked, execFileCollect } from './exec.js';

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

export async function createNetns(name: string): Promise<string> {
  if (!existsSync(netnsPath(name))) await execChecked('ip', ['netns', 'add', name]);
  await execChecked('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return netnsPath(name);
}

export async function removeNetns(name: string): Promise<void> {
  if (!existsSync(netnsPath(name))) return;
  const r = await execFileCollect('ip', ['netns', 'del', name]);
  if (r.code !== 0 && existsSync(netnsPath(name))) throw new Error(`ip netns del ${name}: ${r.stderr.trim()}`);
}
