// berth attach: local stdin, stdout and stderr to a running container, as docker's attach.go.
// The exit status is the container's when its run ends; 0 after the detach keys.
import { parseArgs, StatusError, checkArgs, errorText, type CommandSpec, type Context } from '../cli.js';
import { checkTtyInput, monitorTtySize, pumpStream, rawTerminal } from '../stream.js';

const SPEC: CommandSpec = {
  name: 'attach',
  usage: '[OPTIONS] CONTAINER',
  description: "Attach local standard input, output, and error streams to a running container",
  flags: [
    { long: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
    { long: 'no-stdin', type: 'bool', description: 'Do not attach STDIN' },
    { long: 'sig-proxy', type: 'bool', description: 'Proxy all received signals to the process', default: true },
  ],
};

interface ContainerJson {
  Id: string;
  Config: { Tty?: boolean; OpenStdin?: boolean };
  State: { Running: boolean; Paused: boolean; Restarting: boolean; ExitCode: number };
}

export default async function attach(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 1, 1);
  const o = opts as { detachKeys?: string; noStdin?: boolean; sigProxy?: boolean };
  const client = ctx.client();
  let c: ContainerJson;
  try {
    c = await client.json<ContainerJson>('GET', `/containers/${encodeURIComponent(args[0])}/json`);
  } catch (err) {
    throw new StatusError(errorText(err), 1);
  }
  if (!c.State.Running) throw new StatusError('You cannot attach to a stopped container, start it first', 1);
  if (c.State.Paused) throw new StatusError('You cannot attach to a paused container, unpause it first', 1);
  if (c.State.Restarting) throw new StatusError('You cannot attach to a restarting container, wait until it is running', 1);
  const tty = Boolean(c.Config.Tty);
  const stdin = Boolean(c.Config.OpenStdin) && !o.noStdin;
  try {
    checkTtyInput(tty, stdin);
  } catch (err) {
    throw new StatusError(errorText(err), 1);
  }
  let attached;
  try {
    attached = await client.upgrade('POST', `/containers/${c.Id}/attach`, {
      query: { stream: 1, stdin: stdin ? 1 : undefined, stdout: 1, stderr: 1, detachKeys: o.detachKeys },
    });
  } catch (err) {
    throw new StatusError(errorText(err), 1);
  }
  const restore = rawTerminal(tty, stdin);
  const stopResize = tty && process.stdout.isTTY ? monitorTtySize((h, w) => client.call('POST', `/containers/${c.Id}/resize`, { query: { h, w } })) : () => undefined;
  const proxied: Array<[NodeJS.Signals, () => void]> = [];
  if (o.sigProxy !== false && !tty) {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const) {
      const h = () => void client.call('POST', `/containers/${c.Id}/kill`, { query: { signal: sig } }).catch(() => undefined);
      process.on(sig, h);
      proxied.push([sig, h]);
    }
  }
  try {
    await pumpStream(attached.socket, attached.head, { tty, stdin });
  } finally {
    stopResize();
    restore();
    for (const [sig, h] of proxied) process.off(sig, h);
  }
  const after = await client.json<ContainerJson>('GET', `/containers/${c.Id}/json`).catch(() => undefined);
  if (after?.State.Running) {
    process.stderr.write(`${tty ? '\r\n' : ''}read escape sequence\n`);
    return 0;
  }
  if (!after) return 0;
  return after.State.ExitCode;
}
