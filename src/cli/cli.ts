// What every command shares: the client for the chosen host (with autostart on the default host),
// docker-style flag/argument errors and exit codes, and output helpers.
import { FlagError, parseFlags, type FlagSpec, type Opts } from './flags.js';
import { ApiClient, ApiError, ConnectError, DEFAULT_HOST, parseHost } from './api-client.js';

/** An error with docker's exit status; `message` is printed as is (empty: nothing printed). */
export class StatusError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

export interface Context {
  host: string;
  /** True when the user did not choose a host: the only case where berthd is started for them. */
  defaultHost: boolean;
  debug: boolean;
  client(): ApiClient;
}

export function makeContext(host: string | undefined, debug: boolean): Context {
  const chosen = host ?? process.env.BERTH_HOST ?? DEFAULT_HOST;
  const defaultHost = chosen === DEFAULT_HOST;
  let client: ApiClient | undefined;
  return {
    host: chosen,
    defaultHost,
    debug,
    client() {
      if (client) return client;
      client = new ApiClient(parseHost(chosen));
      if (defaultHost) {
        client.onConnectError = async (err: ConnectError) => {
          if (err.code !== 'ENOENT' && err.code !== 'ECONNREFUSED') return false;
          const { autostartDaemon } = await import('./autostart.js');
          await autostartDaemon(client!.endpoint.socketPath!);
          return true;
        };
      }
      return client;
    },
  };
}

/** The message docker prints for an error from the API or the connection. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.display;
  if (err instanceof Error) return err.message;
  return String(err);
}

export type { FlagSpec as CommandSpec, Opts } from './flags.js';

/** Parse a command's flags; flag errors become docker's exit 125, --help prints usage (exit 0). */
export function parseArgs(spec: FlagSpec, argv: string[]): { opts: Opts; args: string[] } {
  try {
    return parseFlags(spec, argv);
  } catch (e) {
    if (e instanceof FlagError) {
      if (e.code === 0) {
        process.stdout.write(e.message);
        throw new StatusError('', 0);
      }
      throw new StatusError(e.message, e.code);
    }
    throw e;
  }
}

function plural(n: number): string {
  return n === 1 ? 'argument' : 'arguments';
}

/** cli.RequiresMinArgs / ExactArgs / NoArgs / RequiresMaxArgs, with docker's messages (exit 1). */
export function checkArgs(spec: FlagSpec, args: string[], min: number, max = Infinity): void {
  const path = `berth ${spec.name}`;
  const usage = `Usage:  ${path} ${spec.usage}`;
  if (min === 0 && max === 0 && args.length > 0) {
    throw new StatusError(`berth: '${path}' accepts no arguments\n\n${usage}\n\nRun '${path} --help' for more information`, 1);
  }
  if (min === max && args.length !== min) {
    throw new StatusError(`berth: '${path}' requires ${min} ${plural(min)}\n\n${usage}\n\nRun '${path} --help' for more information`, 1);
  }
  if (args.length < min) {
    throw new StatusError(`berth: '${path}' requires at least ${min} ${plural(min)}\n\n${usage}\n\nSee '${path} --help' for more information`, 1);
  }
  if (args.length > max) {
    throw new StatusError(`berth: '${path}' requires at most ${max} ${plural(max)}\n\n${usage}\n\nRun '${path} --help' for more information`, 1);
  }
}

export function out(s: string): void {
  process.stdout.write(s);
}

export function err(s: string): void {
  process.stderr.write(s);
}
