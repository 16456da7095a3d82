// berth build: the context (PATH, or `-` for a tar or a Dockerfile on stdin) is packed into a tar
// the way the docker CLI packs it (.dockerignore applied, Dockerfile and .dockerignore always sent,
// uid/gid 0), streamed to POST /build, and the classic builder's steps are shown as they arrive.
import * as fs from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { IgnoreMatcher } from '../../build/dockerignore.js';
import { humanSize } from '../../util/human.js';
import { jsonLines } from '../api-client.js';
import { checkArgs, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { JsonMessageDisplay, type JsonMessage } from '../progress.js';

const SPEC: CommandSpec = {
  name: 'build',
  usage: '[OPTIONS] PATH | -',
  description: 'Build an image from a Dockerfile',
  flags: [
    { long: 'tag', short: 't', type: 'list', description: "Name and optionally a tag in the 'name:tag' format" },
    { long: 'file', short: 'f', type: 'string', description: "Name of the Dockerfile (Default is 'PATH/Dockerfile')" },
    { long: 'build-arg', type: 'list', description: 'Set build-time variables' },
    { long: 'target', type: 'string', description: 'Set the target build stage to build.' },
    { long: 'no-cache', type: 'bool', description: 'Do not use cache when building the image' },
    { long: 'pull', type: 'bool', description: 'Always attempt to pull a newer version of the image' },
    { long: 'quiet', short: 'q', type: 'bool', description: 'Suppress the build output and print image ID on success' },
    { long: 'iidfile', type: 'string', description: 'Write the image ID to the file' },
    { long: 'label', type: 'list', description: 'Set metadata for an image' },
    { long: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
    { long: 'rm', type: 'bool', description: 'Remove intermediate containers after a successful build', default: true },
    { long: 'force-rm', type: 'bool', description: 'Always remove intermediate containers' },
  ],
};

function list(v: unknown): string[] {
  return Array.isArray(v) ? (v as string[]) : [];
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The context tar: every file not excluded by .dockerignore, sorted, owned by 0:0. */
async function packContext(dir: string, dockerfileRel: string | undefined, extra?: { name: string; data: Buffer }): Promise<Buffer> {
  let ignore: IgnoreMatcher | undefined;
  try {
    ignore = IgnoreMatcher.fromText(fs.readFileSync(join(dir, '.dockerignore'), 'utf8'));
  } catch {
    ignore = undefined;
  }
  const always = new Set(['.dockerignore', ...(dockerfileRel ? [dockerfileRel] : [])]);
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((res, rej) => {
    pack.on('end', () => res());
    pack.on('error', rej);
  });
  const add = (header: Partial<tarStream.Header> & { name: string }, body?: Buffer) =>
    new Promise<void>((res, rej) => pack.entry({ uid: 0, gid: 0, ...header } as tarStream.Header, body ?? Buffer.alloc(0), (e?: Error | null) => (e ? rej(e) : res())));
  const walk = async (rel: string) => {
    const abs = rel ? join(dir, rel) : dir;
    for (const name of fs.readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(join(dir, r));
      const excluded = ignore?.matches(r) && !always.has(r);
      if (excluded && (!st.isDirectory() || !ignore!.hasExclusions)) continue;
      const base = { name: r, mode: st.mode & 0o7777, mtime: st.mtime };
      if (st.isDirectory()) {
        if (!excluded) await add({ ...base, type: 'directory' });
        await walk(r);
      } else if (st.isSymbolicLink()) {
        await add({ ...base, type: 'symlink', linkname: fs.readlinkSync(join(dir, r)) });
      } else if (st.isFile()) {
        await add({ ...base, type: 'file', size: st.size }, fs.readFileSync(join(dir, r)));
      }
    }
  };
  await walk('');
  if (extra) await add({ name: extra.name, type: 'file', mode: 0o644, mtime: new Date(), size: extra.data.length }, extra.data);
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

function post(ctx: Context, path: string, body: Buffer, contentType: string): Promise<IncomingMessage> {
  const e = ctx.client().endpoint;
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest(
      {
        method: 'POST',
        path,
        createConnection: () => (e.socketPath ? connect(e.socketPath) : connect(e.port!, e.hostname!)),
        headers: { Host: 'api.berth', 'User-Agent': 'berth-cli', 'Content-Type': contentType, 'Content-Length': String(body.length) },
      },
      resolvePromise,
    );
    req.on('error', reject);
    Readable.from([body]).pipe(req);
  });
}

export default async function build(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 1, 1);
  const quiet = Boolean(opts.quiet);
  const target = args[0];
  const fileOpt = opts.file as string | undefined;
  let context: Buffer;
  let dockerfileName: string | undefined = fileOpt;
  let contentType = 'application/x-tar';

  if (/^(https?|git):\/\//.test(target) || target.startsWith('git@')) throw new StatusError('remote build contexts (git, URLs) are not supported by berth', 1);
  if (target === '-') {
    if (fileOpt === '-') throw new StatusError('invalid argument: can\'t use stdin for both build context and dockerfile', 1);
    // stdin: a tar context, or a bare Dockerfile (docker build - < Dockerfile).
    context = await readStdin();
    const isTar = (context[0] === 0x1f && context[1] === 0x8b) || (context.length >= 262 && context.toString('latin1', 257, 262) === 'ustar');
    if (!isTar) contentType = 'application/octet-stream';
  } else {
    const dir = resolve(target);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new StatusError(`unable to prepare context: path "${target}" not found`, 1);
    let extra: { name: string; data: Buffer } | undefined;
    let rel = 'Dockerfile';
    if (fileOpt === '-') {
      extra = { name: `.dockerfile.${Math.random().toString(16).slice(2, 14)}`, data: await readStdin() };
      rel = extra.name;
    } else if (fileOpt) {
      const abs = resolve(fileOpt);
      if (!fs.existsSync(abs)) throw new StatusError(`unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${abs}: no such file or directory`, 1);
      const r = relative(dir, abs);
      if (r.startsWith('..') || r === '') {
        extra = { name: `.dockerfile.${Math.random().toString(16).slice(2, 14)}`, data: fs.readFileSync(abs) };
        rel = extra.name;
      } else {
        rel = r.split(sep).join('/');
      }
    } else if (!fs.existsSync(join(dir, 'Dockerfile'))) {
      throw new StatusError(`unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${join(dir, 'Dockerfile')}: no such file or directory`, 1);
    }
    dockerfileName = rel;
    context = await packContext(dir, rel, extra);
  }
  if (!quiet) process.stdout.write(`Sending build context to Docker daemon  ${humanSize(context.length)}\n`);

  const buildArgs: Record<string, string | null> = {};
  for (const a of list(opts.buildArg)) {
    const eq = a.indexOf('=');
    if (eq < 0) buildArgs[a] = process.env[a] ?? null;
    else buildArgs[a.slice(0, eq)] = a.slice(eq + 1);
  }
  const labels: Record<string, string> = {};
  for (const l of list(opts.label)) {
    const eq = l.indexOf('=');
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }
  const q = new URLSearchParams();
  for (const t of list(opts.tag)) q.append('t', t);
  if (dockerfileName && dockerfileName !== '-') q.set('dockerfile', dockerfileName);
  if (Object.keys(buildArgs).length > 0) q.set('buildargs', JSON.stringify(buildArgs));
  if (Object.keys(labels).length > 0) q.set('labels', JSON.stringify(labels));
  if (opts.target) q.set('target', String(opts.target));
  if (opts.noCache) q.set('nocache', '1');
  if (opts.pull) q.set('pull', '1');
  if (quiet) q.set('q', '1');
  if (opts.platform) q.set('platform', String(opts.platform));
  q.set('rm', opts.rm === false ? '0' : '1');
  if (opts.forceRm) q.set('forcerm', '1');
  q.set('version', '1');

  const res = await post(ctx, `/build?${q.toString()}`, context, contentType);
  if ((res.statusCode ?? 500) >= 400) {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let message = text.trim();
    try {
      message = (JSON.parse(text) as { message: string }).message;
    } catch {
      // raw body
    }
    throw new StatusError(`Error response from daemon: ${message}`, 1);
  }
  const display = new JsonMessageDisplay((s) => process.stdout.write(s), Boolean(process.stdout.isTTY), process.stdout.columns || 200);
  let imageId: string | undefined;
  for await (const msg of jsonLines<JsonMessage>(res)) {
    if (msg.errorDetail || msg.error) {
      const code = msg.errorDetail?.code;
      throw new StatusError(msg.errorDetail?.message ?? msg.error ?? 'build failed', code && code > 0 ? code : 1);
    }
    if (msg.aux && typeof msg.aux === 'object' && 'ID' in msg.aux) {
      imageId = String((msg.aux as { ID: string }).ID);
      continue;
    }
    if (!quiet) display.handle(msg);
  }
  if (!imageId) throw new StatusError('the build ended without an image ID', 1);
  if (opts.iidfile) fs.writeFileSync(String(opts.iidfile), imageId);
  if (quiet) process.stdout.write(`${imageId}\n`);
  return 0;
}
