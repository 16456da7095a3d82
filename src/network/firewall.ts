// The one thing no CNI plugin does: keep berth's bridge networks apart, as docker's
// DOCKER-ISOLATION chains do. Stage 1 sends traffic leaving a berth bridge for another interface
// to stage 2, which drops it when it enters another berth bridge. An --internal network also
// drops everything between its bridge and any other interface. FORWARD jumps to stage 1 first,
// ahead of the firewall plugin's CNI-FORWARD (which accepts each container's traffic).
// Rules are added and deleted one by one (several berthd instances may share the chains).
import { execFileCollect } from '../runtime/exec.js';
import { logger } from '../util/log.js';

const log = logger('network');

export const STAGE1 = 'BERTH-ISOLATION-STAGE-1';
export const STAGE2 = 'BERTH-ISOLATION-STAGE-2';

async function ipt(args: string[]): Promise<boolean> {
  const r = await execFileCollect('iptables', ['-w', '5', ...args]);
  return r.code === 0;
}

async function ensureChain(chain: string): Promise<void> {
  if (!(await ipt(['-t', 'filter', '-nL', chain]))) await ipt(['-t', 'filter', '-N', chain]);
}

async function ensureRule(chain: string, spec: string[]): Promise<void> {
  if (!(await ipt(['-t', 'filter', '-C', chain, ...spec]))) await ipt(['-t', 'filter', '-A', chain, ...spec]);
}

async function deleteRule(chain: string, spec: string[]): Promise<void> {
  // A rule added twice (by a crashed run) is deleted until none is left.
  for (let i = 0; i < 5 && (await ipt(['-t', 'filter', '-D', chain, ...spec])); i++);
}

function rulesFor(bridge: string, internal: boolean): Array<[string, string[]]> {
  const rules: Array<[string, string[]]> = [];
  if (internal) {
    rules.push([STAGE1, ['-i', bridge, '!', '-o', bridge, '-j', 'DROP']]);
    rules.push([STAGE1, ['!', '-i', bridge, '-o', bridge, '-j', 'DROP']]);
  }
  rules.push([STAGE1, ['-i', bridge, '!', '-o', bridge, '-j', STAGE2]]);
  rules.push([STAGE2, ['-o', bridge, '-j', 'DROP']]);
  return rules;
}

/** Put FORWARD's jump to stage 1 at the top (the firewall plugin inserts its own at the top too). */
async function ensureJumpFirst(): Promise<void> {
  const r = await execFileCollect('iptables', ['-w', '5', '-t', 'filter', '-S', 'FORWARD']);
  const rules = r.stdout.split('\n').filter((l) => l.startsWith('-A FORWARD'));
  if (rules[0] === `-A FORWARD -j ${STAGE1}`) return;
  await deleteRule('FORWARD', ['-j', STAGE1]);
  await ipt(['-t', 'filter', '-I', 'FORWARD', '1', '-j', STAGE1]);
}

export async function isolateBridge(bridge: string, internal: boolean): Promise<void> {
  try {
    await ensureChain(STAGE1);
    await ensureChain(STAGE2);
    for (const [chain, spec] of rulesFor(bridge, internal)) await ensureRule(chain, spec);
    await ensureJumpFirst();
  } catch (err) {
    log.warn({ err, bridge }, 'isolation rules');
  }
}

export async function unisolateBridge(bridge: string, internal: boolean): Promise<void> {
  for (const [chain, spec] of rulesFor(bridge, internal)) await deleteRule(chain, spec);
}
