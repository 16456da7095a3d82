// berth create: run's flags and create body (pulling a missing image), prints the new ID.
import { checkArgs, errorText, parseArgs, type Context } from '../cli.js';
import { buildCreateBody, createContainer, runError, SPEC as RUN_SPEC, startErrorCode, type RunOptions } from './run.js';

const SPEC = {
  ...RUN_SPEC,
  name: 'create',
  description: 'Create a new container',
  flags: RUN_SPEC.flags.filter((f) => !['detach', 'rm', 'sig-proxy'].includes(f.long)).concat([
    { long: 'rm', type: 'bool', description: 'Automatically remove the container and its associated anonymous volumes when it exits' },
  ]),
};

export default async function create(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  const o = { ...(opts as unknown as RunOptions), detach: true };
  checkArgs(SPEC, args, 1);
  const [image, ...cmd] = args;
  let body: Record<string, unknown>;
  try {
    body = buildCreateBody(o, image, cmd);
    // docker create attaches nothing unless asked with -a; no stdio by default.
    body.AttachStdout = false;
    body.AttachStderr = false;
  } catch (err) {
    throw runError(errorText(err), 125);
  }
  try {
    const id = await createContainer(ctx, ctx.client(), o, body, image);
    process.stdout.write(`${id}\n`);
  } catch (err) {
    throw runError(errorText(err), startErrorCode(errorText(err)));
  }
  return 0;
}
