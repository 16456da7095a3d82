// A small pflag-compatible flag parser. Why not commander: importing it costs ~40-50 ms on this
// machine, half of the whole `berth run` budget, and docker's flag grammar (pflag) differs from it
// anyway: `--rm=false`, `-e=A`, `-eA`, `-dit`, interspersed flags, and docker's error wording.
export type FlagType = 'bool' | 'string' | 'list' | 'int';

export interface FlagDef {
  long: string;
  short?: string;
  type: FlagType;
  description: string;
  default?: string | number | boolean;
  /** Shown in help after the flag ("string", "list"...); defaults from the type. */
  valueName?: string;
}

export interface FlagSpec {
  /** "run", "image ls"... as shown in messages. */
  name: string;
  usage: string;
  description: string;
  flags: FlagDef[];
  /** Stop at the first positional argument (run: the rest belongs to the container). */
  stopAtFirstArg?: boolean;
}

export class FlagError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

export type Opts = Record<string, string | number | boolean | string[] | undefined>;

function camel(long: string): string {
  return long.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  return undefined;
}

export function helpText(spec: FlagSpec): string {
  const rows = spec.flags.map((f) => {
    const names = f.short ? `-${f.short}, --${f.long}` : `    --${f.long}`;
    const value = f.type === 'bool' ? '' : ` ${f.valueName ?? (f.type === 'int' ? 'int' : f.type)}`;
    const def = f.default !== undefined && f.type !== 'bool' && f.default !== '' ? ` (default ${f.type === 'string' ? `"${f.default}"` : f.default})` : '';
    return [`  ${names}${value}`, `${f.description}${def}`];
  });
  rows.push(['      --help', 'Print usage']);
  const width = Math.max(...rows.map((r) => r[0].length)) + 3;
  const options = rows.map(([a, b]) => a.padEnd(width) + b).join('\n');
  return `\nUsage:  berth ${spec.name} ${spec.usage}\n\n${spec.description}\n\nOptions:\n${options}\n`;
}

function flagError(spec: FlagSpec, text: string): FlagError {
  return new FlagError(`${text}\n\nUsage:  berth ${spec.name} ${spec.usage}\n\nRun 'berth ${spec.name} --help' for more information`, 125);
}

/** Parse argv; throws FlagError (exit 125 for bad flags; code 0 with help text for --help). */
export function parseFlags(spec: FlagSpec, argv: string[]): { opts: Opts; args: string[] } {
  const byLong = new Map(spec.flags.map((f) => [f.long, f]));
  const byShort = new Map(spec.flags.filter((f) => f.short).map((f) => [f.short!, f]));
  const opts: Opts = {};
  for (const f of spec.flags) {
    if (f.default !== undefined) opts[camel(f.long)] = f.default;
  }
  const args: string[] = [];
  const set = (f: FlagDef, value: string | undefined, shown: string): void => {
    const key = camel(f.long);
    if (f.type === 'bool') {
      const b = value === undefined ? true : parseBool(value);
      if (b === undefined) throw flagError(spec, `invalid argument "${value}" for "${shown}" flag: strconv.ParseBool: parsing "${value}": invalid syntax`);
      opts[key] = b;
    } else if (f.type === 'list') {
      opts[key] = [...((opts[key] as string[] | undefined) ?? []), value!];
    } else if (f.type === 'int') {
      const n = Number(value);
      if (!/^-?\d+$/.test(value!) || !Number.isSafeInteger(n)) {
        throw flagError(spec, `invalid argument "${value}" for "${shown}" flag: strconv.ParseInt: parsing "${value}": invalid syntax`);
      }
      opts[key] = n;
    } else {
      opts[key] = value;
    }
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (name === 'help') throw new FlagError(helpText(spec), 0);
      const f = byLong.get(name);
      if (!f) throw flagError(spec, `unknown flag: --${name}`);
      let value: string | undefined = eq >= 0 ? a.slice(eq + 1) : undefined;
      if (value === undefined && f.type !== 'bool') {
        if (i + 1 >= argv.length) throw flagError(spec, `flag needs an argument: --${name}`);
        value = argv[++i];
      }
      set(f, value, f.short ? `-${f.short}, --${f.long}` : `--${f.long}`);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // Shorthand cluster: -dit, -eA=1, -e=A, -e A.
      for (let j = 1; j < a.length; j++) {
        const c = a[j];
        const f = byShort.get(c);
        if (!f) {
          if (c === 'h' && !byShort.has('h')) throw new FlagError(helpText(spec), 0);
          throw flagError(spec, `unknown shorthand flag: '${c}' in ${a}`);
        }
        const shown = `-${f.short}, --${f.long}`;
        if (f.type === 'bool') {
          if (a[j + 1] === '=') {
            set(f, a.slice(j + 2), shown);
            break;
          }
          set(f, undefined, shown);
          continue;
        }
        let value = a.slice(j + 1);
        if (value.startsWith('=')) value = value.slice(1);
        else if (value === '') {
          if (i + 1 >= argv.length) throw flagError(spec, `flag needs an argument: '${c}' in -${c}`);
          value = argv[++i];
        }
        set(f, value, shown);
        break;
      }
      continue;
    }
    args.push(a);
    if (spec.stopAtFirstArg) {
      args.push(...argv.slice(i + 1));
      break;
    }
  }
  return { opts, args };
}
