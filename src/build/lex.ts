// Variable expansion and word splitting as BuildKit's shell lexer does it for Dockerfile
// instructions (ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ONBUILD):
// single quotes are literal, double quotes expand `$`, the escape character (`\` or the `escape`
// directive's) escapes one character, and `$VAR`/`${VAR}` take the bash modifiers the Dockerfile
// reference documents: `:-` `-` `:+` `+` `:?` `?` `#` `##` `%` `%%` `/` `//`.

export type EnvLookup = (name: string) => string | undefined;

export class ExpansionError extends Error {}

/** Turns an env list or map into a lookup. In a list, the last entry of a name wins. */
export function envLookup(env: Map<string, string> | Record<string, string> | string[]): EnvLookup {
  if (Array.isArray(env)) {
    const m = new Map<string, string>();
    for (const e of env) {
      const i = e.indexOf('=');
      if (i < 0) m.set(e, '');
      else m.set(e.slice(0, i), e.slice(i + 1));
    }
    return (n) => m.get(n);
  }
  if (env instanceof Map) return (n) => env.get(n);
  return (n) => (Object.prototype.hasOwnProperty.call(env, n) ? env[n] : undefined);
}

const SPECIAL_PARAMS = '@*#?-$!0';

/** Words accumulated while lexing; unquoted whitespace ends a word. */
class Words {
  readonly words: string[] = [];
  private cur = '';
  private inWord = false;

  addChar(ch: string): void {
    if (/\s/.test(ch) && this.inWord) {
      this.words.push(this.cur);
      this.cur = '';
      this.inWord = false;
    } else if (!/\s/.test(ch)) {
      this.addRaw(ch);
    }
  }

  addRaw(s: string): void {
    this.inWord = true;
    this.cur += s;
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  /** A quoted empty string is still a word. */
  markWord(): void {
    this.inWord = true;
  }

  finish(): string[] {
    if (this.inWord) this.words.push(this.cur);
    this.cur = '';
    this.inWord = false;
    return this.words;
  }
}

class Scanner {
  pos = 0;
  constructor(readonly src: string) {}
  peek(): string | undefined {
    return this.pos < this.src.length ? this.src[this.pos] : undefined;
  }
  next(): string | undefined {
    return this.pos < this.src.length ? this.src[this.pos++] : undefined;
  }
}

export interface LexOptions {
  /** The Dockerfile's escape character: `\` (default) or `` ` ``. */
  escape?: string;
}

/** Expands one word: quotes removed, variables substituted, whitespace kept. */
export function processWord(word: string, env: EnvLookup, opts: LexOptions = {}): string {
  return new Expander(word, env, opts.escape ?? '\\').word();
}

/**
 * Expands and splits on unquoted whitespace (also whitespace that came from an unquoted variable),
 * as EXPOSE, VOLUME and the flags-free argument lists use it.
 */
export function processWords(word: string, env: EnvLookup, opts: LexOptions = {}): string[] {
  return new Expander(word, env, opts.escape ?? '\\').words();
}

class Expander {
  private readonly s: Scanner;
  constructor(
    src: string,
    private readonly env: EnvLookup,
    private readonly escape: string,
  ) {
    this.s = new Scanner(src);
  }

  word(): string {
    return this.stopOn(undefined);
  }

  words(): string[] {
    const w = new Words();
    for (;;) {
      const ch = this.s.peek();
      if (ch === undefined) break;
      if (ch === "'") {
        w.markWord();
        w.addRaw(this.singleQuote());
      } else if (ch === '"') {
        w.markWord();
        w.addRaw(this.doubleQuote());
      } else if (ch === '$') {
        w.addString(this.dollar());
      } else {
        this.s.next();
        if (ch === this.escape) {
          const n = this.s.next();
          if (n === undefined) break;
          w.addRaw(n);
        } else {
          w.addChar(ch);
        }
      }
    }
    return w.finish();
  }

  /** Reads until `stop` (consumed) or the end, expanding as it goes. */
  private stopOn(stop: string | undefined): string {
    let out = '';
    for (;;) {
      const ch = this.s.peek();
      if (ch === undefined) {
        if (stop !== undefined) throw new ExpansionError(`unexpected end of statement while looking for matching ${stop === '}' ? 'right brace' : stop}`);
        return out;
      }
      if (stop !== undefined && ch === stop) {
        this.s.next();
        return out;
      }
      if (ch === "'") out += this.singleQuote();
      else if (ch === '"') out += this.doubleQuote();
      else if (ch === '$') out += this.dollar();
      else {
        this.s.next();
        if (ch === this.escape) {
          const n = this.s.next();
          if (n === undefined) return out;
          out += n;
        } else {
          out += ch;
        }
      }
    }
  }

  private singleQuote(): string {
    this.s.next();
    let out = '';
    for (;;) {
      const ch = this.s.next();
      if (ch === undefined) throw new ExpansionError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return out;
      out += ch;
    }
  }

  private doubleQuote(): string {
    this.s.next();
    let out = '';
    for (;;) {
      const ch = this.s.peek();
      if (ch === undefined) throw new ExpansionError('unexpected end of statement while looking for matching double-quote');
      if (ch === '"') {
        this.s.next();
        return out;
      }
      if (ch === '$') {
        out += this.dollar();
        continue;
      }
      this.s.next();
      if (ch === this.escape) {
        const n = this.s.peek();
        if (n === undefined) continue;
        if (n === '"' || n === '$' || n === this.escape) {
          out += this.s.next();
          continue;
        }
      }
      out += ch;
    }
  }

  private name(): string {
    let name = '';
    for (;;) {
      const ch = this.s.peek();
      if (ch === undefined) break;
      if (name === '' && /[0-9]/.test(ch)) {
        while (this.s.peek() !== undefined && /[0-9]/.test(this.s.peek()!)) name += this.s.next();
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.includes(ch)) {
        this.s.next();
        return ch;
      }
      if (!/[A-Za-z0-9_]/.test(ch)) break;
      name += this.s.next();
    }
    return name;
  }

  private dollar(): string {
    this.s.next(); // $
    if (this.s.peek() !== '{') {
      const name = this.name();
      if (name === '') return '$';
      return this.env(name) ?? '';
    }
    this.s.next(); // {
    const name = this.name();
    if (name === '') throw new ExpansionError('bad substitution: missing variable name in ${}');
    const value = this.env(name);
    const ch = this.s.peek();
    if (ch === '}') {
      this.s.next();
      return value ?? '';
    }
    if (ch === undefined) throw new ExpansionError('syntax error: missing \'}\'');
    this.s.next();
    if (ch === ':') {
      const mod = this.s.next();
      const word = this.stopOn('}');
      const empty = value === undefined || value === '';
      switch (mod) {
        case '-':
          return empty ? word : value;
        case '+':
          return empty ? '' : word;
        case '?':
          if (empty) throw new ExpansionError(`${name}: ${word || 'is not allowed to be empty'}`);
          return value;
        default:
          throw new ExpansionError(`unsupported modifier (${mod ?? 'EOF'}) in substitution`);
      }
    }
    switch (ch) {
      case '-': {
        const word = this.stopOn('}');
        return value === undefined ? word : value;
      }
      case '+': {
        const word = this.stopOn('}');
        return value === undefined ? '' : word;
      }
      case '?': {
        const word = this.stopOn('}');
        if (value === undefined) throw new ExpansionError(`${name}: ${word || 'is not allowed to be unset'}`);
        return value;
      }
      case '#':
      case '%': {
        const longest = this.s.peek() === ch;
        if (longest) this.s.next();
        const pattern = this.patternUntil('}');
        const v = value ?? '';
        return ch === '#' ? trimPrefix(v, pattern, longest) : trimSuffix(v, pattern, longest);
      }
      case '/': {
        const all = this.s.peek() === '/';
        if (all) this.s.next();
        const pattern = this.patternUntil('/', '}');
        const replacement = this.lastStop === '/' ? this.stopOn('}') : '';
        return replacePattern(value ?? '', pattern, replacement, all);
      }
      default:
        throw new ExpansionError(`unsupported modifier (${ch}) in substitution`);
    }
  }

  private lastStop: string | undefined;

  /**
   * A glob pattern up to one of the stop characters: variables are expanded, `\*` and `\?` stay
   * escaped (the matcher reads them as literals), quotes make their content literal.
   */
  private patternUntil(...stops: string[]): string {
    let out = '';
    for (;;) {
      const ch = this.s.peek();
      if (ch === undefined) throw new ExpansionError('unexpected end of statement while looking for matching right brace');
      if (stops.includes(ch)) {
        this.s.next();
        this.lastStop = ch;
        return out;
      }
      if (ch === '$') out += escapeGlob(this.dollar());
      else if (ch === "'") out += escapeGlob(this.singleQuote());
      else if (ch === '"') out += escapeGlob(this.doubleQuote());
      else {
        this.s.next();
        if (ch === this.escape) {
          const n = this.s.next();
          if (n === undefined) return out;
          out += `\\${n}`;
        } else {
          out += ch;
        }
      }
    }
  }
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** A shell glob (`*`, `?`, `[...]`, `\x`) as an anchored regular expression. */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) {
      re += escapeRe(pattern[++i]);
    } else if (c === '*') {
      re += '[\\s\\S]*';
    } else if (c === '?') {
      re += '[\\s\\S]';
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, end);
      if (body.startsWith('!') || body.startsWith('^')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else {
      re += escapeRe(c);
    }
  }
  return new RegExp(`^(?:${re})$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function trimPrefix(v: string, pattern: string, longest: boolean): string {
  const re = globToRegExp(pattern);
  if (longest) {
    for (let i = v.length; i >= 0; i--) if (re.test(v.slice(0, i))) return v.slice(i);
  } else {
    for (let i = 0; i <= v.length; i++) if (re.test(v.slice(0, i))) return v.slice(i);
  }
  return v;
}

function trimSuffix(v: string, pattern: string, longest: boolean): string {
  const re = globToRegExp(pattern);
  if (longest) {
    for (let i = 0; i <= v.length; i++) if (re.test(v.slice(i))) return v.slice(0, i);
  } else {
    for (let i = v.length; i >= 0; i--) if (re.test(v.slice(i))) return v.slice(0, i);
  }
  return v;
}

/** bash's ${v/pat/rep}: the leftmost, longest match; `//` every non-overlapping one. */
function replacePattern(v: string, pattern: string, replacement: string, all: boolean): string {
  if (pattern === '') return v;
  const re = globToRegExp(pattern);
  let out = '';
  let i = 0;
  while (i <= v.length) {
    let matched = -1;
    for (let j = v.length; j > i; j--) {
      if (re.test(v.slice(i, j))) {
        matched = j;
        break;
      }
    }
    if (matched < 0) {
      if (i < v.length) out += v[i];
      i++;
      continue;
    }
    out += replacement;
    i = matched;
    if (!all) return out + v.slice(i);
  }
  return out;
}
