// .dockerignore with Docker's matching rules (moby/patternmatcher): one pattern per line, `#`
// comments, patterns cleaned like paths (a leading `/` dropped), `*` and `?` never cross `/`, `**`
// crosses any number of directories, `\` escapes, `!` re-includes; the last matching pattern
// decides, and a pattern that matches a parent directory matches everything below it.
import { posix } from 'node:path';

export interface IgnorePattern {
  pattern: string;
  exclusion: boolean;
  regex: RegExp;
}

export function parseDockerignore(text: string): string[] {
  const out: string[] = [];
  for (let line of text.split(/\r?\n/)) {
    if (line.startsWith('#')) continue;
    line = line.trim();
    if (line === '') continue;
    let invert = false;
    if (line.startsWith('!')) {
      invert = true;
      line = line.slice(1).trim();
    }
    if (line.length > 0) {
      line = posix.normalize(line);
      if (line.length > 1 && line.startsWith('/')) line = line.slice(1);
      if (line.length > 1 && line.endsWith('/')) line = line.slice(0, -1);
    }
    out.push(invert ? `!${line}` : line);
  }
  return out;
}

function compile(pattern: string): RegExp {
  let re = '^';
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++;
        if (i + 1 >= chars.length) re += '.*';
        else re += '(.*/)?';
      } else {
        re += '[^/]*';
      }
    } else if (ch === '?') {
      re += '[^/]';
    } else if ('.+()|{}$^'.includes(ch)) {
      re += `\\${ch}`;
    } else if (ch === '\\') {
      const n = chars[++i];
      if (n === undefined) re += '\\\\';
      else re += `\\${n}`;
    } else {
      re += ch;
    }
  }
  re += '$';
  try {
    return new RegExp(re);
  } catch {
    throw new Error(`syntax error in pattern: ${pattern}`);
  }
}

export class IgnoreMatcher {
  readonly patterns: IgnorePattern[];
  readonly hasExclusions: boolean;

  constructor(lines: string[]) {
    this.patterns = lines
      .filter((l) => l !== '' && l !== '!')
      .map((l) => {
        const exclusion = l.startsWith('!');
        const pattern = exclusion ? l.slice(1) : l;
        return { pattern, exclusion, regex: compile(pattern) };
      });
    this.hasExclusions = this.patterns.some((p) => p.exclusion);
  }

  static fromText(text: string): IgnoreMatcher {
    return new IgnoreMatcher(parseDockerignore(text));
  }

  /** True when `path` (relative, `/`-separated) is excluded from the context. */
  matches(path: string): boolean {
    const file = posix.normalize(path).replace(/^\/+/, '');
    const parent = posix.dirname(file);
    const parentDirs = parent === '.' ? [] : parent.split('/');
    let matched = false;
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue;
      let match = p.regex.test(file);
      if (!match) {
        for (let i = 0; i < parentDirs.length && !match; i++) match = p.regex.test(parentDirs.slice(0, i + 1).join('/'));
      }
      if (match) matched = !p.exclusion;
    }
    return matched;
  }
}
