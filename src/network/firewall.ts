// The one thing no CNI plugin does: keep berth's bridge networks apart, as docker's
// DOCKER-ISOLATION chains do. Stage 1 sends traffic leaving a berth bridge for another interface
// to stage 2, which drops it when it enters another berth bridge. An --internal network also
// drops everything between its bridge and any other interface. FORWARD jumps to stage 1 first,
// ahead of the firewall plugin's CNI-FORWARD (which accepts each container's traffic).
// Rules are added and deleted one by one (several berthd instances may share the chains).
//
// What the CNI bridge and firewall plugins did per container is done once per bridge, as docker
// does: BERTH-FORWARD accepts what leaves a bridge and what comes back to it (replies, and
// connections to published ports, which portmap DNATs), and one MASQUERADE rule per subnet lets
// containers reach beyond the host (not for --internal networks).
import { execFileCollect } from '../runtime/exec.js';
import { logger } from '../util/log.js';

const log = logger('network');

export const STAGE1 = 'BERTH-ISOLATION-STAGE-1';
export const STAGE2 = 'BERTH-ISOLATION-STAGE-2';
export const FORWARD_CHAIN = 'BERTH-FORWARD';

/** Marks a bridge's NAT rule, so it can be found (and deleted) knowing only the bridge. */
function natComment(bridge: string): string {
  return `berth:${bridge}`;
}

async function ipt(args: string[]): Promise<boolean> {
  const r = await execFileCollect('iptables', ['-w', '5', ...args]);
  return r.code === 0;
}

async function ensureChain(chain: string): Promise<void> {
  if (!(await ipt(['-t', 'filter', '-nL', chain]))) await ipt(['-t', 'filter', '-N', chain]);
}

async function ensureRule(chain: string, spec: string[], table = 'filter'): Promise<void> {
  if (!(await ipt(['-t', table, '-C', chain, ...spec]))) await ipt(['-t', table, '-A', chain, ...spec]);
}

async function deleteRule(chain: string, spec: string[], table = 'filter'): Promise<void> {
  // A rule added twice (by a crashed run) is deleted until none is left.
  for (let i = 0; i < 5 && (await ipt(['-t', table, '-D', chain, ...spec])); i++);
}

function forwardRules(bridge: string): string[][] {
  return [
    ['-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED,DNAT', '-j', 'ACCEPT'],
    ['-i', bridge, '-j', 'ACCEPT'],
  ];
}

function masqueradeRule(bridge: string, subnet: string): string[] {
  return ['-s', subnet, '!', '-o', bridge, '-m', 'comment', '--comment', natComment(bridge), '-j', 'MASQUERADE'];
}

/** FORWARD's jump to BERTH-FORWARD, right after the isolation jump (so isolation drops come first). */
async function ensureForwardJump(): Promise<void> {
  if (await ipt(['-t', 'filter', '-C', 'FORWARD', '-j', FORWARD_CHAIN])) return;
  const r = await execFileCollect('iptables', ['-w', '5', '-t', 'filter', '-S', 'FORWARD']);
  const first = r.stdout.split('\n').filter((l) => l.startsWith('-A FORWARD'))[0];
  await ipt(['-t', 'filter', '-I', 'FORWARD', first === `-A FORWARD -j ${STAGE1}` ? '2' : '1', '-j', FORWARD_CHAIN]);
}

/** Forwarding and masquerading for a bridge's containers; once per bridge and daemon. */
export async function routeBridge(bridge: string, subnet: string, internal: boolean): Promise<void> {
  await ensureChain(FORWARD_CHAIN);
  for (const spec of forwardRules(bridge)) await ensureRule(FORWARD_CHAIN, spec);
  await ensureForwardJump();
  if (!internal) await ensureRule('POSTROUTING', masqueradeRule(bridge, subnet), 'nat');
}

/** Every rule routeBridge made for the bridge (the subnet is found by the rule's comment). */
async function unrouteBridge(bridge: string): Promise<void> {
  for (const spec of forwardRules(bridge)) await deleteRule(FORWARD_CHAIN, spec);
  const nat = await execFileCollect('iptables', ['-w', '5', '-t', 'nat', '-S', 'POSTROUTING']);
  for (const line of nat.stdout.split('\n')) {
    // iptables -S quotes the comment: -m comment --comment "berth:<bridge>"
    if (!line.startsWith('-A POSTROUTING ') || !line.includes(`"${natComment(bridge)}"`)) continue;
    const subnet = /-s (\S+)/.exec(line)?.[1];
    if (subnet) await deleteRule('POSTROUTING', masqueradeRule(bridge, subnet), 'nat');
  }
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

/** Removes every rule berth keeps for the bridge: isolation, forwarding, masquerading. */
export async function unisolateBridge(bridge: string, internal: boolean): Promise<void> {
  for (const [chain, spec] of rulesFor(bridge, internal)) await deleteRule(chain, spec);
  await unrouteBridge(bridge);
}
