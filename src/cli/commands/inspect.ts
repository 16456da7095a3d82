// berth inspect: container first, then image, as docker's generic inspect; a JSON array indented
// like json.MarshalIndent, or one line per object with -f (see ../template.ts for the subset).
import { ApiError } from '../api-client.js';
import { checkArgs, errorText, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { goJsonIndent } from '../format.js';
import { execTemplate, TemplateError } from '../template.js';

const SPEC: CommandSpec = {
  name: 'inspect',
  usage: '[OPTIONS] NAME|ID [NAME|ID...]',
  description: 'Return low-level information on berth objects',
  flags: [
    { long: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' },
    { long: 'size', short: 's', type: 'bool', description: 'Display total file sizes if the type is container' },
    { long: 'type', type: 'string', description: 'Only inspect objects of the given type' },
  ],
};

export default async function inspect(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 1);
  const type = opts.type as string | undefined;
  if (type && type !== 'container' && type !== 'image') {
    throw new StatusError(`"${type}" is not a valid value for --type`, 1);
  }
  const client = ctx.client();
  const found: unknown[] = [];
  const errors: string[] = [];
  for (const name of args) {
    let value: unknown;
    try {
      if (type !== 'image') {
        try {
          value = await client.json('GET', `/containers/${encodeURIComponent(name)}/json`, { query: { size: opts.size ? 1 : undefined } });
        } catch (err) {
          if (!(err instanceof ApiError) || err.status !== 404 || type === 'container') throw err;
        }
      }
      if (value === undefined) value = await client.json('GET', `/images/${name}/json`);
      found.push(value);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        errors.push(type ? `Error: No such ${type}: ${name}` : `Error: No such object: ${name}`);
      } else errors.push(errorText(err));
    }
  }
  writeInspected(found, opts.format as string | undefined);
  if (errors.length) {
    process.stderr.write(errors.join('\n') + '\n');
    return 1;
  }
  return 0;
}

/** The objects as inspect prints them: indented JSON array, or one line per object with -f. */
export function writeInspected(found: unknown[], format: string | undefined): void {
  if (format) {
    if (format === 'json') {
      process.stdout.write(found.map((v) => JSON.stringify(v) + '\n').join(''));
    } else {
      for (const v of found) {
        try {
          process.stdout.write(execTemplate(format, v) + '\n');
        } catch (err) {
          // docker ends the (partial) line before reporting the template error.
          if (err instanceof TemplateError) {
            process.stdout.write('\n');
            throw new StatusError(`template parsing error: ${err.message}`, 1);
          }
          throw err;
        }
      }
    }
  } else {
    process.stdout.write(found.length === 0 ? '[]\n' : goJsonIndent(found) + '\n');
  }
}
