// berth rmi: "Untagged: ..." / "Deleted: ..." lines from the daemon's answer.
import { checkArgs, errorText, parseArgs, type CommandSpec, type Context } from '../cli.js';

const SPEC: CommandSpec = {
  name: 'rmi',
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  description: 'Remove one or more images',
  flags: [
    { long: 'force', short: 'f', type: 'bool', description: 'Force removal of the image' },
    { long: 'no-prune', type: 'bool', description: 'Do not delete untagged parents' },
    { long: 'platform', type: 'list', description: 'Remove only the given platform variant' },
  ],
};

export default async function rmi(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 1);
  const client = ctx.client();
  let failed = false;
  for (const name of args) {
    try {
      const items = await client.json<Array<{ Untagged?: string; Deleted?: string }>>('DELETE', `/images/${name}`, {
        query: { force: opts.force ? 1 : undefined, noprune: opts.noPrune ? 1 : undefined },
      });
      for (const item of items ?? []) {
        if (item.Untagged) process.stdout.write(`Untagged: ${item.Untagged}\n`);
        if (item.Deleted) process.stdout.write(`Deleted: ${item.Deleted}\n`);
      }
    } catch (err) {
      failed = true;
      process.stderr.write(`${errorText(err)}\n`);
    }
  }
  return failed ? 1 : 0;
}
