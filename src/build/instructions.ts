// Typed Dockerfile instructions and build stages from the parsed lines, with BuildKit's argument
// rules per instruction (JSON-or-shell forms, ENV/LABEL key=value words, flags each instruction
// accepts). Variables are not expanded here: that needs the build state (see executor.ts).
import { DockerfileError, parseDockerfile, parseJsonArray, type Heredoc, type ParsedDockerfile, type RawInstruction } from './parser.js';

interface Base {
  line: number;
  endLine: number;
  /** As written: what docker prints after "Step N/M :". */
  original: string;
}

export interface KeyValue {
  key: string;
  /** Unexpanded; undefined for `ARG name` without a default. */
  value?: string;
}

export interface FromCommand extends Base {
  kind: 'from';
  image: string;
  stageName?: string;
  platform?: string;
}
export interface RunCommand extends Base {
  kind: 'run';
  /** Exec form args, or a one-element shell-form command line. */
  args: string[];
  json: boolean;
  mounts: string[];
  network?: string;
  security?: string;
  heredocs: Heredoc[];
}
export interface CmdCommand extends Base {
  kind: 'cmd' | 'entrypoint';
  args: string[];
  json: boolean;
}
export interface EnvCommand extends Base {
  kind: 'env' | 'label';
  pairs: KeyValue[];
}
export interface ArgCommand extends Base {
  kind: 'arg';
  args: KeyValue[];
}
export interface WordsCommand extends Base {
  kind: 'expose' | 'volume';
  words: string[];
}
export interface StringCommand extends Base {
  kind: 'workdir' | 'user' | 'stopsignal' | 'maintainer';
  value: string;
}
export interface ShellCommand extends Base {
  kind: 'shell';
  shell: string[];
}
export interface HealthcheckCommand extends Base {
  kind: 'healthcheck';
  /** ["NONE"], or ["CMD", ...] / ["CMD-SHELL", line]. */
  test: string[];
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}
export interface OnbuildCommand extends Base {
  kind: 'onbuild';
  /** The trigger instruction as written (without "ONBUILD "). */
  expression: string;
}
export interface CopyCommand extends Base {
  kind: 'copy' | 'add';
  sources: string[];
  dest: string;
  json: boolean;
  from?: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
  keepGitDir: boolean;
  checksum?: string;
  unpack?: boolean;
  heredocs: Heredoc[];
}

export type Command =
  | FromCommand
  | RunCommand
  | CmdCommand
  | EnvCommand
  | ArgCommand
  | WordsCommand
  | StringCommand
  | ShellCommand
  | HealthcheckCommand
  | OnbuildCommand
  | CopyCommand;

export interface Stage {
  index: number;
  /** Lower-case `AS` name, if any. */
  name?: string;
  from: FromCommand;
  commands: Command[];
}

export interface Dockerfile {
  file: string;
  escape: string;
  syntax?: string;
  /** ARGs before the first FROM: usable in FROM lines, and re-declarable in stages. */
  metaArgs: ArgCommand[];
  stages: Stage[];
  warnings: string[];
}

const FLAGS: Record<string, Record<string, 'string' | 'bool' | 'list'>> = {
  from: { platform: 'string' },
  run: { mount: 'list', network: 'string', security: 'string' },
  copy: { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'list' },
  add: { chown: 'string', chmod: 'string', link: 'bool', 'keep-git-dir': 'bool', checksum: 'string', exclude: 'list', unpack: 'bool' },
  healthcheck: { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' },
};

const KNOWN = new Set([
  'from', 'run', 'cmd', 'entrypoint', 'env', 'arg', 'label', 'expose', 'volume', 'workdir', 'user', 'stopsignal',
  'maintainer', 'shell', 'healthcheck', 'onbuild', 'copy', 'add',
]);

type Flags = Map<string, string[]>;

function parseFlags(file: string, node: RawInstruction): Flags {
  const allowed = FLAGS[node.cmd] ?? {};
  const out: Flags = new Map();
  for (const f of node.flags) {
    const body = f.slice(2);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const type = allowed[name];
    if (!type) throw new DockerfileError(file, node.line, `unknown flag: ${name}`);
    let value = eq < 0 ? undefined : body.slice(eq + 1);
    if (type === 'bool') {
      if (value === undefined || value === '' || value === 'true') value = 'true';
      else if (value !== 'false') throw new DockerfileError(file, node.line, `expecting boolean value for flag ${name}, not: ${value}`);
    } else if (value === undefined) {
      throw new DockerfileError(file, node.line, `missing a value on flag: ${name}`);
    }
    if (type !== 'list' && out.has(name)) throw new DockerfileError(file, node.line, `duplicate flag specified: ${name}`);
    out.set(name, [...(out.get(name) ?? []), value]);
  }
  return out;
}

/**
 * BuildKit's parseWords: split on whitespace outside quotes, keeping quotes and escapes in the
 * words (expansion removes them later).
 */
export function splitWordsKeepQuotes(rest: string, escape: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  let blankOk = false;
  const chars = [...rest];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (quote) {
      if (ch === quote) quote = undefined;
      if (ch === escape && quote !== "'" && quote !== undefined) {
        if (i + 1 === chars.length) continue;
        word += ch;
        word += chars[++i];
        continue;
      }
      word += ch;
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord && (blankOk || word.length > 0)) words.push(word);
      word = '';
      inWord = false;
      blankOk = false;
      continue;
    }
    inWord = true;
    if (ch === "'" || ch === '"') {
      quote = ch;
      blankOk = true;
    }
    if (ch === escape) {
      if (i + 1 === chars.length) continue;
      word += ch + chars[++i];
      continue;
    }
    word += ch;
  }
  if (inWord && (blankOk || word.length > 0)) words.push(word);
  return words;
}

function whitespaceWords(rest: string): string[] {
  return rest.split(/[ \t\r\n]+/).filter(Boolean);
}

function parseNameVal(file: string, node: RawInstruction, escape: string, what: string): KeyValue[] {
  const words = splitWordsKeepQuotes(node.rest, escape);
  if (words.length === 0) throw new DockerfileError(file, node.line, `${what} requires at least one argument`);
  if (!words[0].includes('=')) {
    const m = /^(\S+)[ \t]+([\s\S]+)$/.exec(node.rest.trim());
    if (!m) throw new DockerfileError(file, node.line, `${what} must have two arguments`);
    return [{ key: m[1], value: m[2] }];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) throw new DockerfileError(file, node.line, `Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    if (eq === 0) throw new DockerfileError(file, node.line, `${what} names can not be blank`);
    return { key: w.slice(0, eq), value: w.slice(eq + 1) };
  });
}

/** "30s", "1m30s", "1.5h", "100ms" → nanoseconds (Go's time.ParseDuration, as HEALTHCHECK uses it). */
export function parseDuration(s: string): number | undefined {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  const unit: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  let pos = 0;
  if (s === '') return undefined;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return undefined;
    total += parseFloat(m[1]) * unit[m[2]];
    pos = re.lastIndex;
  }
  return Math.round(total);
}

function toCommand(file: string, node: RawInstruction, escape: string): Command {
  const base: Base = { line: node.line, endLine: node.endLine, original: node.original };
  const err = (msg: string) => new DockerfileError(file, node.line, msg);
  const flags = parseFlags(file, node);
  const one = (n: string) => flags.get(n)?.[0];
  const upper = node.cmd.toUpperCase();
  switch (node.cmd) {
    case 'from': {
      const words = whitespaceWords(node.rest);
      if (words.length !== 1 && !(words.length === 3 && words[1].toLowerCase() === 'as')) {
        throw err('FROM requires either one or three arguments');
      }
      let stageName: string | undefined;
      if (words.length === 3) {
        stageName = words[2].toLowerCase();
        if (!/^[a-z][a-z0-9-_.]*$/.test(stageName)) throw err(`invalid name for build stage: "${words[2]}", name can't start with a number or contain symbols`);
      }
      return { ...base, kind: 'from', image: words[0], stageName, platform: one('platform') };
    }
    case 'run':
    case 'cmd':
    case 'entrypoint': {
      const json = parseJsonArray(node.rest);
      if (node.cmd === 'run' && !json && node.rest.trim() === '' && node.heredocs.length === 0) throw err('RUN requires at least one argument');
      const args = json ?? [node.rest];
      if (node.cmd === 'run') {
        return { ...base, kind: 'run', args, json: json !== undefined, mounts: flags.get('mount') ?? [], network: one('network'), security: one('security'), heredocs: node.heredocs };
      }
      return { ...base, kind: node.cmd, args: json ?? (node.rest.trim() === '' ? [] : [node.rest]), json: json !== undefined };
    }
    case 'env':
    case 'label':
      return { ...base, kind: node.cmd, pairs: parseNameVal(file, node, escape, upper) };
    case 'arg': {
      const words = splitWordsKeepQuotes(node.rest, escape);
      if (words.length === 0) throw err('ARG requires at least one argument');
      return {
        ...base,
        kind: 'arg',
        args: words.map((w) => {
          const eq = w.indexOf('=');
          if (eq === 0) throw err('ARG names can not be blank');
          return eq < 0 ? { key: w } : { key: w.slice(0, eq), value: w.slice(eq + 1) };
        }),
      };
    }
    case 'expose':
    case 'volume': {
      const words = node.cmd === 'volume' ? parseJsonArray(node.rest) ?? whitespaceWords(node.rest) : whitespaceWords(node.rest);
      if (words.length === 0) throw err(`${upper} requires at least one argument`);
      if (node.cmd === 'volume' && words.some((w) => w.trim() === '')) throw err('VOLUME specified can not be an empty string');
      return { ...base, kind: node.cmd, words };
    }
    case 'workdir':
    case 'user':
    case 'stopsignal':
    case 'maintainer': {
      const value = node.rest.trim();
      if (value === '') throw err(`${upper} requires exactly one argument`);
      if (node.cmd === 'stopsignal' || node.cmd === 'user') {
        if (whitespaceWords(value).length !== 1) throw err(`${upper} requires exactly one argument`);
      }
      return { ...base, kind: node.cmd, value };
    }
    case 'shell': {
      const json = parseJsonArray(node.rest);
      if (!json) throw err('SHELL requires the arguments to be in JSON form');
      if (json.length === 0) throw err('SHELL requires at least one argument');
      return { ...base, kind: 'shell', shell: json };
    }
    case 'healthcheck': {
      const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(node.rest.trim());
      if (!m) throw err('HEALTHCHECK requires an argument');
      const type = m[1].toUpperCase();
      const rest = m[2] ?? '';
      if (type === 'NONE') {
        if (rest.trim() !== '' || flags.size > 0) throw err('HEALTHCHECK NONE takes no arguments');
        return { ...base, kind: 'healthcheck', test: ['NONE'] };
      }
      if (type !== 'CMD') throw err(`Unknown type "${m[1]}" in HEALTHCHECK (try CMD)`);
      const json = parseJsonArray(rest);
      if (!json && rest.trim() === '') throw err('Missing command after HEALTHCHECK CMD');
      const test = json ? ['CMD', ...json] : ['CMD-SHELL', rest];
      const dur = (name: string): number | undefined => {
        const v = one(name);
        if (v === undefined) return undefined;
        const d = parseDuration(v);
        if (d === undefined) throw err(`time: invalid duration "${v}"`);
        if (d !== 0 && d < 1e6) throw err(`Interval "${name}" cannot be less than 1ms`);
        return d;
      };
      const hc: HealthcheckCommand = { ...base, kind: 'healthcheck', test, interval: dur('interval'), timeout: dur('timeout'), startPeriod: dur('start-period'), startInterval: dur('start-interval') };
      const retries = one('retries');
      if (retries !== undefined) {
        if (!/^-?\d+$/.test(retries)) throw err(`strconv.ParseInt: parsing "${retries}": invalid syntax`);
        if (Number(retries) < 0) throw err('--retries cannot be negative');
        hc.retries = Number(retries);
      }
      return hc;
    }
    case 'onbuild': {
      const expression = node.original.replace(/^\s*onbuild\s*/i, '');
      const trigger = /^(\S+)/.exec(expression)?.[1]?.toLowerCase();
      if (!trigger) throw err('ONBUILD requires at least one argument');
      if (trigger === 'onbuild') throw err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (trigger === 'from' || trigger === 'maintainer') throw err(`${trigger.toUpperCase()} isn't allowed as an ONBUILD trigger`);
      if (!KNOWN.has(trigger)) throw err(`unknown instruction: ${/^(\S+)/.exec(expression)![1]}`);
      return { ...base, kind: 'onbuild', expression };
    }
    case 'copy':
    case 'add': {
      const json = parseJsonArray(node.rest);
      const words = json ?? whitespaceWords(node.rest);
      if (words.length < 2) {
        throw err(`${upper} requires at least two arguments, but only ${words.length === 0 ? 'zero were' : 'one was'} provided. Destination could not be determined`);
      }
      if (node.cmd === 'add' && one('from') !== undefined) throw err('unknown flag: from');
      return {
        ...base,
        kind: node.cmd,
        sources: words.slice(0, -1),
        dest: words[words.length - 1],
        json: json !== undefined,
        from: one('from'),
        chown: one('chown'),
        chmod: one('chmod'),
        link: one('link') === 'true',
        parents: one('parents') === 'true',
        exclude: flags.get('exclude') ?? [],
        keepGitDir: one('keep-git-dir') === 'true',
        checksum: one('checksum'),
        unpack: one('unpack') === undefined ? undefined : one('unpack') === 'true',
        heredocs: node.heredocs,
      };
    }
    default:
      throw err(`unknown instruction: ${/^(\S+)/.exec(node.original)?.[1] ?? node.cmd}`);
  }
}

/** Parse a Dockerfile into stages. Throws DockerfileError (file and line) on any syntax error. */
export function loadDockerfile(text: string, file = 'Dockerfile'): Dockerfile {
  const parsed: ParsedDockerfile = parseDockerfile(text, file);
  return fromParsed(parsed);
}

export function fromParsed(parsed: ParsedDockerfile): Dockerfile {
  const { file, escape } = parsed;
  if (parsed.instructions.length === 0) throw new DockerfileError(file, 1, `the Dockerfile (${file}) cannot be empty`);
  const metaArgs: ArgCommand[] = [];
  const stages: Stage[] = [];
  const names = new Set<string>();
  for (const node of parsed.instructions) {
    if (!KNOWN.has(node.cmd)) throw new DockerfileError(file, node.line, `unknown instruction: ${/^(\S+)/.exec(node.original)?.[1] ?? node.cmd}`);
    const cmd = toCommand(file, node, escape);
    if (cmd.kind === 'from') {
      if (cmd.stageName) {
        if (names.has(cmd.stageName)) throw new DockerfileError(file, node.line, `duplicate stage name "${cmd.stageName}"`);
        names.add(cmd.stageName);
      }
      stages.push({ index: stages.length, name: cmd.stageName, from: cmd, commands: [] });
      continue;
    }
    if (stages.length === 0) {
      if (cmd.kind === 'arg') {
        metaArgs.push(cmd);
        continue;
      }
      throw new DockerfileError(file, node.line, `no build stage in current context: ${node.cmd.toUpperCase()} before the first FROM`);
    }
    stages[stages.length - 1].commands.push(cmd);
  }
  if (stages.length === 0) throw new DockerfileError(file, parsed.instructions[parsed.instructions.length - 1].line, 'no build stage in current context: the Dockerfile has no FROM');
  return { file, escape, syntax: parsed.syntax, metaArgs, stages, warnings: parsed.warnings };
}

/** Parse one ONBUILD trigger as an instruction (errors name the Dockerfile line of the FROM). */
export function parseTrigger(expression: string, file: string, line: number, escape = '\\'): Command {
  const parsed = parseDockerfile(expression, file);
  const node = parsed.instructions[0];
  if (!node) throw new DockerfileError(file, line, `empty ONBUILD trigger`);
  if (!KNOWN.has(node.cmd)) throw new DockerfileError(file, line, `unknown instruction in ONBUILD trigger: ${node.cmd.toUpperCase()}`);
  const cmd = toCommand(file, { ...node, line, endLine: line }, escape);
  return cmd;
}
