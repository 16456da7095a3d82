// berth login: check the credentials through the daemon (POST /auth), then store them where the
// docker CLI does ($DOCKER_CONFIG/config.json, or a credential helper).
import { createInterface } from 'node:readline';
import { checkArgs, parseArgs, StatusError, type CommandSpec, type Context } from '../cli.js';
import { INDEX_SERVER, serverKey, storeCredentials, configPath } from '../../registry/auth-config.js';

const SPEC: CommandSpec = {
  name: 'login',
  usage: '[OPTIONS] [SERVER]',
  description: 'Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.',
  flags: [
    { long: 'username', short: 'u', type: 'string', description: 'Username' },
    { long: 'password', short: 'p', type: 'string', description: 'Password or Personal Access Token (PAT)' },
    { long: 'password-stdin', type: 'bool', description: 'Take the Password or Personal Access Token (PAT) from stdin' },
  ],
};

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function prompt(question: string, hidden: boolean): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  if (hidden) {
    // Echo nothing of what is typed, as docker does for the password.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
      if (s.startsWith(question)) process.stdout.write(question);
    };
  }
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
    if (hidden) process.stdout.write('\n');
  }
}

export default async function login(ctx: Context, argv: string[]): Promise<number> {
  const { opts, args } = parseArgs(SPEC, argv);
  checkArgs(SPEC, args, 0, 1);
  const server = args[0] ? serverKey(args[0]) : INDEX_SERVER;
  let username = (opts.username as string | undefined)?.trim();
  let password = opts.password as string | undefined;
  if (password !== undefined) {
    process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    if (opts.passwordStdin) throw new StatusError('--password and --password-stdin are mutually exclusive', 1);
  }
  if (opts.passwordStdin) {
    if (!username) throw new StatusError('Must provide --username with --password-stdin', 1);
    password = await readStdin();
  }
  if (!username || password === undefined) {
    if (!process.stdin.isTTY) throw new StatusError('Error: Cannot perform an interactive login from a non TTY device', 1);
    if (!username) username = (await prompt('Username: ', false)).trim();
    if (!username) throw new StatusError('Error: Non-null Username Required', 1);
    if (password === undefined) password = await prompt('Password: ', true);
  }
  if (!password) throw new StatusError('Error: Password Required', 1);
  const answer = await ctx.client().json<{ Status?: string; IdentityToken?: string }>('POST', '/auth', {
    body: { username, password, serveraddress: server },
  });
  const inFile = storeCredentials(server, { username, password, identitytoken: answer?.IdentityToken || undefined });
  if (inFile) process.stderr.write(`\nWARNING! Your credentials are stored unencrypted in '${configPath()}'.\n`);
  process.stdout.write(`${answer?.Status || 'Login Succeeded'}\n`);
  return 0;
}
