// berth cp: files between a container and the host, as `docker cp` (archive API: HEAD for the
// stat header, GET for a tar of a container path, PUT to extract a tar into a container dir).
// On the host side the tar is unpacked by berth's layer applier (no writes through symlinks, no
// `..`), owned by the user running berth, as the docker CLI does.
import { lstat, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { ApiError } from '../api-client.js';
import { checkArgs, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { humanSize } from '../format.js';

const SPEC: CommandSpec = {
  name: 'cp',
  usage: '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
  description: 'Copy files/folders between a container and the local filesystem',
  flags: [
    { long: 'archive', short: 'a', type: 'bool', description: 'Archive mode (copy all uid/gid information)' },
    { long: 'follow-link', short: 'L', type: 'bool', description: 'Always follow symbol link in SRC_PATH' },
    { long: 'quiet', short: 'q', type: 'bool', description: 'Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached' },
  ],
};

interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

const GO_DIR = 2 ** 31;

function splitContainer(arg: string): { container?: string; path: string } {
  // docker: a colon before any slash means CONTAINER:PATH; "./a:b" or "/a:b" are local paths.
  if (arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const i = arg.indexOf(':');
  if (i <= 0) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

async function statPath(ctx: Context, container: string, path: string): Promise<PathStat | undefined> {
  const url = `/containers/${encodeURIComponent(container)}/archive?path=${encodeURIComponent(path)}`;
  try {
    const res = await ctx.client().request('HEAD', url);
    res.resume();
    const header = res.headers['x-docker-container-path-stat'];
    if (typeof header !== 'string') return undefined;
    return JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as PathStat;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

/** Renames the tar's top-level name `from` to `to` on the fly. */
function renameTop(source: Readable, from: string, to: string): Readable {
  if (from === to) return source;
  const extract = tarStream.extract();
  const pack = tarStream.pack();
  const out = new PassThrough();
  (pack as unknown as Readable).pipe(out);
  void (async () => {
    source.pipe(extract as unknown as NodeJS.WritableStream);
    for await (const entry of extract) {
      const h = { ...entry.header };
      if (h.name === from || h.name === `${from}/`) h.name = h.name.replace(from, to);
      else if (h.name.startsWith(`${from}/`)) h.name = to + h.name.slice(from.length);
      await new Promise<void>((res, rej) => {
        const sink = pack.entry(h, (err) => (err ? rej(err) : res()));
        (entry as unknown as Readable).pipe(sink as unknown as NodeJS.WritableStream);
      });
    }
    pack.finalize();
  })().catch((err: unknown) => out.destroy(err as Error));
  return out;
}

function counter(): { stream: Transform; bytes: () => number } {
  let n = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _e, cb) {
      n += chunk.length;
      cb(null, chunk);
    },
  });
  return { stream, bytes: () => n };
}

async function fromContainer(ctx: Context, container: string, src: string, dest: string, opts: { follow: boolean; quiet: boolean }): Promise<void> {
  let path = src;
  const st = await statPath(ctx, container, path);
  if (opts.follow && st && st.linkTarget) path = st.linkTarget;
  const res = await ctx.client().request('GET', `/containers/${encodeURIComponent(container)}/archive`, { query: { path } });
  const header = res.headers['x-docker-container-path-stat'];
  const srcStat = typeof header === 'string' ? (JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as PathStat) : undefined;
  const count = counter();
  if (dest === '-') {
    await pipeline(res, count.stream, process.stdout);
    return;
  }
  const { applyLayer } = await import('../../images/unpack.js');
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const srcIsDir = srcStat ? (srcStat.mode & GO_DIR) !== 0 : false;
  const top = path.endsWith('/.') ? '.' : basename(path.replace(/\/+$/, '')) || '.';
  let destStat;
  try {
    destStat = await stat(dest);
  } catch {
    destStat = undefined;
  }
  res.pipe(count.stream);
  if (destStat?.isDirectory()) {
    // Into an existing directory: the source keeps its name (its contents for "dir/.").
    await applyLayer(count.stream, dest, { whiteouts: false, owner });
  } else {
    if (destStat && srcIsDir) throw new StatusError(`cannot copy a directory to a file: ${dest}`, 1);
    if (!destStat && dest.endsWith('/')) throw new StatusError(`destination directory ${dest} does not exist`, 1);
    const parent = dirname(resolve(dest));
    try {
      if (!(await stat(parent)).isDirectory()) throw new Error();
    } catch {
      throw new StatusError(`destination directory ${parent} does not exist`, 1);
    }
    // Unpack beside the destination, then move the one entry into place.
    const tmp = await mkdtemp(join(parent, '.berth-cp-'));
    try {
      await applyLayer(renameTop(count.stream, top === '.' ? '.' : top, 'x'), tmp, { whiteouts: false, owner });
      await rename(join(tmp, 'x'), resolve(dest));
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  if (!opts.quiet) process.stderr.write(`Successfully copied ${humanSize(count.bytes())} to ${dest}\n`);
}

async function toContainer(ctx: Context, src: string, container: string, dest: string, opts: { follow: boolean; quiet: boolean; archive: boolean }): Promise<void> {
  const put = (dir: string, body: NodeJS.ReadableStream) =>
    ctx.client().call('PUT', `/containers/${encodeURIComponent(container)}/archive`, {
      query: { path: dir, copyUIDGID: opts.archive ? 'true' : undefined },
      headers: { 'Content-Type': 'application/x-tar' },
      stream: body,
    });
  if (src === '-') {
    await put(dest, process.stdin);
    return;
  }
  let local = src;
  let st;
  try {
    st = opts.follow ? await stat(local) : await lstat(local);
  } catch {
    throw new StatusError(`lstat ${resolve(local)}: no such file or directory`, 1);
  }
  const destStat = await statPath(ctx, container, dest);
  const destIsDir = destStat ? (destStat.mode & GO_DIR) !== 0 : false;
  let dir: string;
  let name: string;
  if (destIsDir) {
    dir = dest;
    name = local.endsWith('/.') ? '.' : basename(resolve(local));
  } else {
    if (destStat && st.isDirectory()) throw new StatusError(`cannot copy a directory to a file: ${container}:${dest}`, 1);
    if (!destStat && dest.endsWith('/')) throw new StatusError(`destination directory ${container}:${dest} does not exist`, 1);
    dir = dirname(dest) || '/';
    name = basename(dest);
  }
  const { tarTree } = await import('../../containers/archive.js');
  const count = counter();
  const tar = tarTree(resolve(local), { rename: name });
  tar.pipe(count.stream);
  await put(dir, count.stream);
  if (!opts.quiet) process.stderr.write(`Successfully copied ${humanSize(count.bytes())} to ${container}:${dest}\n`);
}

export default async function cp(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 2, 2);
  const a = splitContainer(args[0]!);
  const b = splitContainer(args[1]!);
  if (a.container && b.container) throw new StatusError('copying between containers is not supported', 1);
  if (!a.container && !b.container) throw new StatusError('must specify at least one container source', 1);
  const quiet = Boolean(opts.quiet) || !process.stderr.isTTY;
  if (a.container) {
    if (a.path === '') throw new StatusError('filepath cannot be empty', 1);
    await fromContainer(ctx, a.container, a.path, args[1]!, { follow: Boolean(opts.followLink), quiet });
  } else {
    if (b.path === '') throw new StatusError('filepath cannot be empty', 1);
    await toContainer(ctx, args[0]!, b.container!, b.path, { follow: Boolean(opts.followLink), quiet, archive: Boolean(opts.archive) });
  }
  return 0;
}
