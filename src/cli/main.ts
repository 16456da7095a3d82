// berth CLI entry. Startup time matters (`berth run` is benchmarked): global flags are parsed by
// hand and each command module is imported only when it runs, so `berth run` loads run.ts, the
// API client and commander, nothing else.
import type { Context } from './cli.js';

const VERSION = '0.1.0';

type CommandModule = { default: (ctx: Context, argv: string[]) => Promise<number | void> };

/** docker command names (and their `image ...`/`container ...` forms) to our modules. */
const COMMANDS: Record<string, string> = {
  run: 'run',
  'container run': 'run',
  pull: 'pull',
  'image pull': 'pull',
  push: 'push',
  tag: 'tag',
  'image tag': 'tag',
  'image push': 'push',
  login: 'login',
  logout: 'logout',
  images: 'images',
  'image ls': 'images',
  'image list': 'images',
  ps: 'ps',
  'container ls': 'ps',
  'container list': 'ps',
  'container ps': 'ps',
  logs: 'logs',
  'container logs': 'logs',
  rm: 'rm',
  'container rm': 'rm',
  'container remove': 'rm',
  rmi: 'rmi',
  'image rm': 'rmi',
  'image remove': 'rmi',
  inspect: 'inspect',
  'container inspect': 'inspect',
  'image inspect': 'inspect',
  version: 'version',
  info: 'info',
  stop: 'stop',
  'container stop': 'stop',
  kill: 'kill',
  exec: 'exec',
  attach: 'attach',
  'container attach': 'attach',
  'container exec': 'exec',
  'container kill': 'kill',
  'system info': 'info',
  create: 'create',
  'container create': 'create',
  start: 'start',
  'container start': 'start',
  restart: 'restart',
  'container restart': 'restart',
  pause: 'pause',
  'container pause': 'pause',
  unpause: 'unpause',
  'container unpause': 'unpause',
  wait: 'wait',
  'container wait': 'wait',
  rename: 'rename',
  'container rename': 'rename',
  top: 'top',
  'container top': 'top',
  'container prune': 'prune',
  events: 'events',
  'system events': 'events',
  stats: 'stats',
  'container stats': 'stats',
  build: 'build',
  'image build': 'build',
  // images and files in and out (issue 5)
  history: 'history',
  'image history': 'history',
  'image prune': 'image-prune',
  save: 'save',
  'image save': 'save',
  load: 'load',
  'image load': 'load',
  import: 'import',
  'image import': 'import',
  commit: 'commit',
  'container commit': 'commit',
  export: 'export',
  'container export': 'export',
  diff: 'diff',
  'container diff': 'diff',
  cp: 'cp',
  'container cp': 'cp',
  'system df': 'system-df',
  'system prune': 'system-prune',
  network: 'network',
  volume: 'volume',
  port: 'port',
  'container port': 'port',
};

const USAGE = `
Usage:  berth [OPTIONS] COMMAND

A Docker-compatible container engine

Common Commands:
  run         Create and run a new container from an image
  build       Build an image from a Dockerfile
  ps          List containers
  pull        Download an image from a registry
  push        Upload an image to a registry
  images      List images
  info        Display system-wide information
  version     Show the berth version information

Management Commands:
  container   Manage containers
  image       Manage images
  system      Manage berth
  network     Manage networks
  volume      Manage volumes

Commands:
  attach      Attach local standard input, output, and error streams to a running container
  commit      Create a new image from a container's changes
  cp          Copy files/folders between a container and the local filesystem
  create      Create a new container
  diff        Inspect changes to files or directories on a container's filesystem
  events      Get real time events from the server
  exec        Execute a command in a running container
  export      Export a container's filesystem as a tar archive
  history     Show the history of an image
  import      Import the contents from a tarball to create a filesystem image
  inspect     Return low-level information on berth objects
  kill        Kill one or more running containers
  load        Load an image from a tar archive or STDIN
  login       Authenticate to a registry
  logout      Log out from a registry
  logs        Fetch the logs of a container
  pause       Pause all processes within one or more containers
  rename      Rename a container
  restart     Restart one or more containers
  port        List port mappings or a specific mapping for the container
  rm          Remove one or more containers
  rmi         Remove one or more images
  save        Save one or more images to a tar archive (streamed to STDOUT by default)
  start       Start one or more stopped containers
  stats       Display a live stream of container(s) resource usage statistics
  stop        Stop one or more running containers
  tag         Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
  top         Display the running processes of a container
  unpause     Unpause all processes within one or more containers
  wait        Block until one or more containers stop, then print their exit codes

Global Options:
  -D, --debug              Enable debug mode
  -H, --host string        Daemon socket to connect to (default: $BERTH_HOST or
                           ${'unix:///run/berth/berth.sock'})
  -l, --log-level string   Set the logging level ("debug", "info", "warn", "error", "fatal")
                           (default "info")
  -v, --version            Print version information and quit

Run 'berth COMMAND --help' for more information on a command.
`;

interface Global {
  host?: string;
  debug: boolean;
  rest: string[];
}

function parseGlobal(argv: string[]): Global | number {
  const g: Global = { debug: false, rest: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-') || a === '-') break;
    if (a === '--') {
      i++;
      break;
    }
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string | undefined => (inline !== undefined ? inline : argv[++i]);
    if (flag === '-H' || flag === '--host') {
      const v = value();
      if (v === undefined) return usageError(`flag needs an argument: --host`);
      g.host = v;
    } else if (flag.startsWith('-H') && flag.length > 2) {
      g.host = flag.slice(2).replace(/^=/, '');
    } else if (flag === '-D' || flag === '--debug') {
      g.debug = true;
    } else if (flag === '-l' || flag === '--log-level') {
      if (value() === undefined) return usageError(`flag needs an argument: --log-level`);
    } else if (flag === '-v' || flag === '--version') {
      process.stdout.write(`berth version ${VERSION}\n`);
      return 0;
    } else if (flag === '-h' || flag === '--help') {
      process.stdout.write(USAGE);
      return 0;
    } else {
      return usageError(flag.startsWith('--') ? `unknown flag: ${flag}` : `unknown shorthand flag: '${flag[1]}' in ${flag}`);
    }
  }
  g.rest = argv.slice(i);
  return g;
}

function usageError(text: string): number {
  process.stderr.write(`${text}\n\nUsage:  berth [OPTIONS] COMMAND\n\nRun 'berth --help' for more information\n`);
  return 125;
}

async function main(argv: string[]): Promise<number> {
  const g = parseGlobal(argv);
  if (typeof g === 'number') return g;
  const [first, second] = g.rest;
  if (first === undefined) {
    process.stdout.write(USAGE);
    return 0;
  }
  let file = COMMANDS[first];
  let rest = g.rest.slice(1);
  if ((first === 'image' || first === 'container' || first === 'system') && second !== undefined && !second.startsWith('-')) {
    file = COMMANDS[`${first} ${second}`];
    rest = g.rest.slice(2);
    if (!file) {
      process.stderr.write(`berth: unknown command: berth ${first} ${second}\n\nRun 'berth ${first} --help' for more information\n`);
      return 1;
    }
  } else if (first === 'image' || first === 'container' || first === 'system') {
    process.stdout.write(`\nUsage:  berth ${first} COMMAND\n\nRun 'berth ${first} COMMAND --help' for more information on a command.\n`);
    return 0;
  }
  if (!file) {
    process.stderr.write(`berth: unknown command: berth ${first}\n\nRun 'berth --help' for more information\n`);
    return 1;
  }
  const { makeContext, StatusError, errorText } = await import('./cli.js');
  const ctx = makeContext(g.host, g.debug);
  try {
    const mod = (await import(`./commands/${file}.js`)) as CommandModule;
    const code = await mod.default(ctx, rest);
    return code ?? 0;
  } catch (err) {
    if (err instanceof StatusError) {
      if (err.message) process.stderr.write(err.message + '\n');
      return err.code;
    }
    process.stderr.write(errorText(err) + '\n');
    if (g.debug && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
