// berth logout: remove the stored credentials of a registry (config.json or credential helper).
import { checkArgs, parseArgs, type CommandSpec, type Context } from '../cli.js';
import { eraseCredentials, INDEX_SERVER, serverKey } from '../../registry/auth-config.js';

const SPEC: CommandSpec = {
  name: 'logout',
  usage: '[SERVER]',
  description: 'Log out from a registry.\nIf no server is specified, the default is defined by the daemon.',
  flags: [],
};

export default async function logout(_ctx: Context, argv: string[]): Promise<number> {
  const { args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 0, 1);
  const server = args[0] ? serverKey(args[0]) : INDEX_SERVER;
  if (!eraseCredentials(server)) {
    process.stdout.write(`Not logged in to ${server}\n`);
    return 0;
  }
  process.stdout.write(`Removing login credentials for ${server}\n`);
  return 0;
}
