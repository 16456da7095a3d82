// Dockerfile → instruction lines, by BuildKit's rules: parser directives only at the very top
// (`syntax`, `escape`, `check`; keys case-insensitive; each once), comment lines (also inside a
// continuation), the escape character at the end of a line continues it, leading whitespace of an
// instruction is dropped, instructions are case-insensitive, and RUN/COPY/ADD take heredocs
// (`<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`) whose bodies follow the instruction line.
// Every error names the file and the line.

export class DockerfileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
  }
}

export interface Heredoc {
  name: string;
  /** Body with a trailing newline; `<<-` has leading tabs stripped. */
  content: string;
  /** Unquoted delimiter: the body takes variable expansion. */
  expand: boolean;
  chomp: boolean;
  /** `3<<EOF`: the file descriptor, if given. */
  fd?: number;
}

export interface RawInstruction {
  /** Lower-case instruction keyword. */
  cmd: string;
  /** `--name=value` words before the arguments. */
  flags: string[];
  /** The arguments after keyword and flags (continuations joined). */
  rest: string;
  /** The instruction as written, continuations joined (what docker prints for a step). */
  original: string;
  line: number;
  endLine: number;
  heredocs: Heredoc[];
}

export interface ParsedDockerfile {
  file: string;
  escape: string;
  syntax?: string;
  instructions: RawInstruction[];
  warnings: string[];
}

const HEREDOC_COMMANDS = new Set(['run', 'copy', 'add']);

/** `# key = value` at the top of the file. */
const DIRECTIVE_RE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;

export function parseDockerfile(text: string, file = 'Dockerfile'): ParsedDockerfile {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  let escape = '\\';
  let syntax: string | undefined;
  const seen = new Set<string>();
  const warnings: string[] = [];
  let directivesOpen = true;
  const instructions: RawInstruction[] = [];
  const err = (line: number, msg: string) => new DockerfileError(file, line, msg);

  let i = 0;
  const isComment = (l: string) => /^[ \t]*#/.test(l);
  const isBlank = (l: string) => /^[ \t]*$/.test(l);
  const continuation = () => new RegExp(`${escape === '\\' ? '\\\\' : escape}[ \\t]*$`);

  while (i < lines.length) {
    const lineNo = i + 1;
    const line = lines[i++];
    if (directivesOpen) {
      const m = DIRECTIVE_RE.exec(line);
      if (m) {
        const key = m[1].toLowerCase();
        if (key === 'escape' || key === 'syntax' || key === 'check') {
          if (seen.has(key)) throw err(lineNo, `only one ${key} parser directive can be used`);
          seen.add(key);
          if (key === 'escape') {
            if (m[2] !== '\\' && m[2] !== '`') throw err(lineNo, `invalid escape token '${m[2]}' does not match ` + '` or \\');
            escape = m[2];
          } else if (key === 'syntax') {
            syntax = m[2];
          }
          continue;
        }
      }
      directivesOpen = false;
    }
    if (isComment(line) || isBlank(line)) continue;

    // Join continuation lines; comment lines inside are dropped, empty ones only warned about.
    const contRe = continuation();
    let text = line.replace(/^[ \t]+/, '');
    let endLine = lineNo;
    let done = !contRe.test(text);
    if (!done) text = text.replace(contRe, '');
    while (!done) {
      if (i >= lines.length) break;
      const next = lines[i++];
      endLine = i;
      if (isComment(next)) continue;
      if (isBlank(next)) {
        warnings.push(`${file}:${endLine}: empty continuation line`);
        continue;
      }
      if (contRe.test(next)) {
        text += next.replace(contRe, '');
      } else {
        text += next;
        done = true;
      }
    }

    const m = /^(\S+)(?:[ \t]+([\s\S]*))?$/.exec(text);
    if (!m) continue;
    const cmd = m[1].toLowerCase();
    const { flags, rest } = splitFlags(m[2] ?? '');
    const node: RawInstruction = { cmd, flags, rest: rest.replace(/[ \t]+$/, ''), original: text.replace(/[ \t]+$/, ''), line: lineNo, endLine, heredocs: [] };

    if (HEREDOC_COMMANDS.has(cmd)) {
      for (const h of findHeredocs(node.rest)) {
        const body: string[] = [];
        let closed = false;
        while (i < lines.length) {
          const l = lines[i++];
          endLine = i;
          const cmp = h.chomp ? l.replace(/^\t+/, '') : l;
          if (cmp === h.name) {
            closed = true;
            break;
          }
          body.push(cmp);
        }
        if (!closed) throw err(lineNo, `unterminated heredoc ${h.name}: no line "${h.name}" before the end of the file`);
        node.heredocs.push({ ...h, content: body.length > 0 ? body.join('\n') + '\n' : '' });
      }
      node.endLine = endLine;
    }
    instructions.push(node);
  }
  return { file, escape, syntax, instructions, warnings };
}

/**
 * Leading `--flag[=value]` words (a value may be quoted). Stops at the first word that is not a
 * flag or at `--` alone, as BuildKit's extractBuilderFlags does.
 */
export function splitFlags(args: string): { flags: string[]; rest: string } {
  const flags: string[] = [];
  let pos = 0;
  for (;;) {
    while (pos < args.length && /[ \t]/.test(args[pos])) pos++;
    if (!args.startsWith('--', pos)) break;
    let end = pos;
    let word = '';
    let quote: string | undefined;
    while (end < args.length) {
      const c = args[end];
      if (quote) {
        if (c === quote) quote = undefined;
        else word += c;
      } else if (c === '"' || c === "'") {
        quote = c;
      } else if (/[ \t]/.test(c)) {
        break;
      } else {
        word += c;
      }
      end++;
    }
    if (word === '--') {
      pos = end;
      break;
    }
    flags.push(word);
    pos = end;
  }
  return { flags, rest: args.slice(pos) };
}

/** Heredoc markers among the words of an instruction's arguments (quoted words are skipped). */
export function findHeredocs(rest: string): Array<Omit<Heredoc, 'content'>> {
  const out: Array<Omit<Heredoc, 'content'>> = [];
  // Only look at the shell-form text: an exec-form JSON array never starts a heredoc.
  if (/^\s*\[/.test(rest)) {
    try {
      JSON.parse(rest);
      return out;
    } catch {
      // not JSON: shell form
    }
  }
  const re = /(?:^|[\s;&|(])(\d*)<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_.-]*)\3(?=$|[\s;&|)>])/g;
  // Blank out quoted regions so `echo "<<EOF"` is not a heredoc.
  const masked = rest.replace(/'[^']*'|"(?:[^"\\]|\\.)*"/g, (q) => (/^(["'])[A-Za-z_][A-Za-z0-9_.-]*\1$/.test(q) ? q : ' '.repeat(q.length)));
  for (const m of masked.matchAll(re)) {
    // The quoted delimiter case: `<<"EOF"` kept its quotes through the mask.
    out.push({ name: m[4], expand: m[3] === '', chomp: m[2] === '-', fd: m[1] ? Number(m[1]) : undefined });
  }
  return out;
}

/**
 * BuildKit's exec-form test: arguments that parse as a JSON array of strings are exec form;
 * anything else (including invalid JSON that starts with `[`) is shell form.
 */
export function parseJsonArray(rest: string): string[] | undefined {
  const t = rest.trim();
  if (!t.startsWith('[')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return undefined;
  return v as string[];
}
