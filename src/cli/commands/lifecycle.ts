// berth create/start/restart/pause/unpause/wait/rename/top and container prune, with docker's
// output and exit codes (each name printed on success, errors on stderr, exit 1 if any failed).
import { FrameDemuxer } from '../api-client.js';
import { checkArgs, errorText, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { humanSize } from '../../util/human.js';
import { tabwrite } from '../list-format.js';
import { filtersJson } from '../filters.js';

async function each(ctx: Context, names: string[], run: (name: string) => Promise<string | void>, opts: { errorsAtEnd?: boolean } = {}): Promise<string[]> {
  void ctx;
  const results = await Promise.allSettled(names.map((n) => run(n)));
  const errors: string[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') process.stdout.write(`${r.value ?? names[i]}\n`);
    else if (opts.errorsAtEnd) errors.push(errorText(r.reason));
    else process.stderr.write(`${errorText(r.reason)}\n`);
  });
  if (errors.length) process.stderr.write(errors.join('\n') + '\n');
  return names.filter((_, i) => results[i].status === 'rejected');
}

const path = (name: string, action: string) => `/containers/${encodeURIComponent(name)}/${action}`;

function simple(name: string, description: string, flags: CommandSpec['flags'] = []): CommandSpec {
  return { name, usage: 'CONTAINER [CONTAINER...]', description, flags };
}

const PAUSE = simple('pause', 'Pause all processes within one or more containers');
const UNPAUSE = simple('unpause', 'Unpause all processes within one or more containers');
const RESTART = simple('restart', 'Restart one or more containers', [
  { long: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' },
  { long: 'timeout', short: 't', type: 'int', description: 'Seconds to wait before killing the container' },
]);
const WAIT = simple('wait', 'Block until one or more containers stop, then print their exit codes');

export async function pause(ctx: Context, argv: string[]): Promise<number> {
  const { args } = parseArgs(PAUSE, argv);
  checkArgs(PAUSE, args, 1);
  const failed = await each(ctx, args, async (n) => void (await ctx.client().call('POST', path(n, 'pause'))), { errorsAtEnd: true });
  return failed.length ? 1 : 0;
}

export async function unpause(ctx: Context, argv: string[]): Promise<number> {
  const { args } = parseArgs(UNPAUSE, argv);
  checkArgs(UNPAUSE, args, 1);
  const failed = await each(ctx, args, async (n) => void (await ctx.client().call('POST', path(n, 'unpause'))), { errorsAtEnd: true });
  return failed.length ? 1 : 0;
}

export async function restart(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(RESTART, argv);
  checkArgs(RESTART, args, 1);
  const query = { t: opts.timeout as number | undefined, signal: (opts.signal as string | undefined) || undefined };
  // docker restarts one after the other.
  let failed = false;
  for (const n of args) {
    try {
      await ctx.client().call('POST', path(n, 'restart'), { query });
      process.stdout.write(`${n}\n`);
    } catch (err) {
      failed = true;
      process.stderr.write(`${errorText(err)}\n`);
    }
  }
  return failed ? 1 : 0;
}

export async function wait(ctx: Context, argv: string[]): Promise<number> {
  const { args } = parseArgs(WAIT, argv);
  checkArgs(WAIT, args, 1);
  const failed = await each(ctx, args, async (n) => {
    const r = await ctx.client().json<{ StatusCode: number; Error?: { Message?: string } | null }>('POST', path(n, 'wait'), { query: { condition: 'not-running' } });
    if (r.Error?.Message) throw new Error(r.Error.Message);
    return String(r.StatusCode);
  });
  return failed.length ? 1 : 0;
}

const RENAME: CommandSpec = { name: 'rename', usage: 'CONTAINER NEW_NAME', description: 'Rename a container', flags: [] };

export async function rename(ctx: Context, argv: string[]): Promise<number> {
  const { args } = parseArgs(RENAME, argv);
  checkArgs(RENAME, args, 2, 2);
  const [oldName, newName] = args.map((a) => a.trim());
  if (oldName === '' || newName === '') throw new StatusError('Error: Neither old nor new names may be empty', 1);
  await ctx.client().call('POST', path(oldName, 'rename'), { query: { name: newName } });
  return 0;
}

const TOP: CommandSpec = { name: 'top', usage: 'CONTAINER [ps OPTIONS]', description: 'Display the running processes of a container', flags: [], stopAtFirstArg: true };

export async function top(ctx: Context, argv: string[]): Promise<number> {
  const { args } = parseArgs(TOP, argv);
  checkArgs(TOP, args, 1);
  const [name, ...psArgs] = args;
  const r = await ctx.client().json<{ Titles: string[]; Processes: string[][] | null }>('GET', path(name, 'top'), {
    query: { ps_args: psArgs.length ? psArgs.join(' ') : undefined },
  });
  const lines = [r.Titles.join('\t'), ...(r.Processes ?? []).map((p) => p.join('\t'))];
  process.stdout.write(tabwrite(lines.join('\n') + '\n', 20, 3));
  return 0;
}

const START: CommandSpec = {
  name: 'start',
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Start one or more stopped containers',
  flags: [
    { long: 'attach', short: 'a', type: 'bool', description: "Attach STDOUT/STDERR and forward signals" },
    { long: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
    { long: 'interactive', short: 'i', type: 'bool', description: "Attach container's STDIN" },
  ],
};

export async function start(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(START, argv);
  checkArgs(START, args, 1);
  const client = ctx.client();
  if (!opts.attach && !opts.interactive) {
    const failed: string[] = [];
    for (const n of args) {
      try {
        await client.call('POST', path(n, 'start'));
        process.stdout.write(`${n}\n`);
      } catch (err) {
        process.stderr.write(`${errorText(err)}\n`);
        failed.push(n);
      }
    }
    if (failed.length) throw new StatusError(`Error: failed to start containers: ${failed.join(', ')}`, 1);
    return 0;
  }
  if (args.length > 1) throw new StatusError('Error: you cannot start and attach multiple containers at once', 1);
  const name = args[0];
  const info = await client.json<{ Id: string; Config?: { Tty?: boolean } }>('GET', `/containers/${encodeURIComponent(name)}/json`);
  const tty = Boolean(info.Config?.Tty);
  const [attached, waitRes] = await Promise.all([
    client.upgrade('POST', path(info.Id, 'attach'), { query: { stream: 1, stdout: 1, stderr: 1 } }),
    client.request('POST', path(info.Id, 'wait'), { query: { condition: 'next-exit' } }),
  ]);
  const write = (s: number, d: Buffer) => (s === 2 ? process.stderr : process.stdout).write(d);
  const demux = tty ? undefined : new FrameDemuxer(write);
  const onData = (c: Buffer) => (demux ? demux.push(c) : process.stdout.write(c));
  if (attached.head.length) onData(attached.head);
  attached.socket.on('data', onData);
  const streamDone = new Promise<void>((resolve) => {
    attached.socket.once('end', resolve);
    attached.socket.once('close', resolve);
    attached.socket.once('error', () => resolve());
  });
  const waitBody = (async () => {
    const chunks: Buffer[] = [];
    for await (const c of waitRes as AsyncIterable<Buffer>) chunks.push(c);
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { StatusCode?: number };
  })();
  waitBody.catch(() => {});
  try {
    await client.call('POST', path(info.Id, 'start'));
  } catch (err) {
    attached.socket.destroy();
    throw new StatusError(errorText(err), 1);
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => void client.call('POST', path(info.Id, 'kill'), { query: { signal: sig } }).catch(() => {}));
  }
  const result = await waitBody;
  await Promise.race([streamDone, new Promise((r) => setTimeout(r, 10_000).unref())]);
  return result.StatusCode ?? 0;
}

const PRUNE: CommandSpec = {
  name: 'container prune',
  usage: '[OPTIONS]',
  description: 'Remove all stopped containers',
  flags: [
    { long: 'filter', type: 'list', description: 'Provide filter values (e.g. "until=<timestamp>")' },
    { long: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
  ],
};

export async function prune(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(PRUNE, argv);
  checkArgs(PRUNE, args, 0, 0);
  const filters = filtersJson(opts.filter as string[] | undefined);
  if (!opts.force) {
    process.stdout.write('WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ');
    const answer = await readLine();
    // Declined: docker prints nothing more and succeeds.
    if (!/^y(es)?$/i.test(answer.trim())) return 0;
  }
  const r = await ctx.client().json<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/containers/prune', { query: { filters } });
  let output = '';
  if ((r.ContainersDeleted ?? []).length > 0) output = `Deleted Containers:\n${r.ContainersDeleted!.join('\n')}\n`;
  if (output) process.stdout.write(`${output}\n`);
  process.stdout.write(`Total reclaimed space: ${humanSize(output ? r.SpaceReclaimed : 0)}\n`);
  return 0;
}

function readLine(): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString();
      if (buf.includes('\n')) done();
    };
    const done = () => {
      process.stdin.off('data', onData);
      process.stdin.pause();
      resolve(buf.split('\n')[0]);
    };
    process.stdin.on('data', onData);
    process.stdin.once('end', done);
  });
}
