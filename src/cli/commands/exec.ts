// berth exec: create an exec session, start it hijacked (or detached), exit with its exit code,
// as docker's exec.go does.
import { envEntry, envFile } from '../env-file.js';
import { parseArgs, StatusError, checkArgs, errorText, type CommandSpec, type Context } from '../cli.js';
import { checkTtyInput, consoleSize, monitorTtySize, pumpStream, rawTerminal } from '../stream.js';

const SPEC: CommandSpec = {
  name: 'exec',
  usage: '[OPTIONS] CONTAINER COMMAND [ARG...]',
  description: 'Execute a command in a running container',
  stopAtFirstArg: true,
  flags: [
    { long: 'detach', short: 'd', type: 'bool', description: 'Detached mode: run command in the background' },
    { long: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
    { long: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
    { long: 'env-file', type: 'list', description: 'Read in a file of environment variables' },
    { long: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' },
    { long: 'privileged', type: 'bool', description: 'Give extended privileges to the command' },
    { long: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' },
    { long: 'user', short: 'u', type: 'string', description: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
    { long: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
  ],
};

interface ExecOptions {
  detach?: boolean;
  detachKeys?: string;
  env?: string[];
  envFile?: string[];
  interactive?: boolean;
  privileged?: boolean;
  tty?: boolean;
  user?: string;
  workdir?: string;
}


export default async function exec(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  const o = opts as unknown as ExecOptions;
  checkArgs(SPEC, args, 2);
  const [container, ...cmd] = args;
  const tty = Boolean(o.tty);
  const interactive = Boolean(o.interactive);
  const detach = Boolean(o.detach);
  const env = [...(o.envFile ?? []).flatMap(envFile), ...(o.env ?? []).map(envEntry)];
  if (!detach) {
    try {
      checkTtyInput(tty, interactive);
    } catch (err) {
      throw new StatusError(errorText(err), 1);
    }
  }
  const size = tty ? consoleSize() : undefined;
  const client = ctx.client();
  let execId: string;
  try {
    const res = await client.json<{ Id: string }>('POST', `/containers/${encodeURIComponent(container)}/exec`, {
      body: {
        User: o.user ?? '',
        Privileged: Boolean(o.privileged),
        Tty: tty,
        ConsoleSize: size ?? null,
        AttachStdin: interactive && !detach,
        AttachStdout: !detach,
        AttachStderr: !detach,
        Detach: detach,
        DetachKeys: o.detachKeys ?? '',
        Env: env.length ? env : null,
        WorkingDir: o.workdir ?? '',
        Cmd: cmd,
      },
    });
    execId = res.Id;
  } catch (err) {
    throw new StatusError(errorText(err), 1);
  }
  if (detach) {
    try {
      await client.call('POST', `/exec/${execId}/start`, { body: { Detach: true, Tty: tty, ConsoleSize: size ?? null } });
    } catch (err) {
      throw new StatusError(errorText(err), 1);
    }
    return 0;
  }
  let attached;
  try {
    attached = await client.upgrade('POST', `/exec/${execId}/start`, { body: { Detach: false, Tty: tty, ConsoleSize: size ?? null } });
  } catch (err) {
    throw new StatusError(errorText(err), 1);
  }
  const restore = rawTerminal(tty, interactive);
  const stopResize = tty ? monitorTtySize((h, w) => client.call('POST', `/exec/${execId}/resize`, { query: { h, w } })) : () => undefined;
  try {
    await pumpStream(attached.socket, attached.head, { tty, stdin: interactive });
  } finally {
    stopResize();
    restore();
  }
  const info = await client.json<{ ExitCode: number | null; Running: boolean }>('GET', `/exec/${execId}/json`);
  return info.ExitCode ?? 0;
}
