// A small subset of Go's text/template, enough for the common `--format` uses of inspect:
//   {{.Field.Sub}}  {{json .X}}  {{.X | json}}  {{index .Map "key"}}  {{len .X}}  {{upper .X}}
//   {{lower .X}}  {{title .X}}  {{println .X}}  {{.}}  {{json .}}  {{join .X ","}}  {{split .X ","}}
//   {{pad .X 1 2}}  {{truncate .X 5}}
// plus literal text. Values print as Go's fmt %v would for decoded JSON (maps as map[k:v]).
import { goJson } from './format.js';

export class TemplateError extends Error {}

type Value = unknown;

/** fmt's %v for values decoded from JSON. */
export function goPrint(v: Value): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goPrint).join(' ')}]`;
  if (typeof v === 'object') {
    const keys = Object.keys(v as object).sort();
    return `map[${keys.map((k) => `${k}:${goPrint((v as Record<string, Value>)[k])}`).join(' ')}]`;
  }
  if (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) >= 1e21) return v.toExponential().replace('e+', 'e+');
  return String(v);
}

/** Field lookup with docker's missingkey=error behaviour; `col` is where the path starts. */
function resolvePath(root: Value, path: string, col: number): Value {
  if (path === '.') return root;
  let cur: Value = root;
  let offset = col;
  for (const part of path.slice(1).split('.')) {
    if (cur === null || cur === undefined || typeof cur !== 'object' || Array.isArray(cur)) {
      throw new TemplateError(`template: :1:${offset}: executing "" at <${path}>: can't evaluate field ${part} in type ${Array.isArray(cur) ? '[]interface {}' : 'interface {}'}`);
    }
    if (!Object.prototype.hasOwnProperty.call(cur, part)) {
      throw new TemplateError(`template: :1:${offset}: executing "" at <${path}>: map has no entry for key "${part}"`);
    }
    cur = (cur as Record<string, Value>)[part];
    offset += part.length + 1;
  }
  return cur;
}

interface Token {
  text: string;
  col: number;
}

function tokenize(expr: string, base: number): Token[] {
  const out: Token[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|\||[^\s|]+)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(expr)) !== null) out.push({ text: m[1], col: base + m.index + m[0].length - m[1].length });
  return out;
}

function operand(token: Token, data: Value): Value {
  const tok = token.text;
  if (tok.startsWith('"')) return JSON.parse(tok) as string;
  if (tok.startsWith('.')) return resolvePath(data, tok, token.col);
  if (/^-?\d+$/.test(tok)) return Number(tok);
  throw new TemplateError(`template: :1: function "${tok}" not defined`);
}

const FUNCS: Record<string, (args: Value[]) => Value> = {
  json: ([v]) => goJson(v),
  len: ([v]) => (Array.isArray(v) ? v.length : typeof v === 'string' ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0),
  upper: ([v]) => String(v).toUpperCase(),
  lower: ([v]) => String(v).toLowerCase(),
  title: ([v]) => String(v).replace(/\b\w/g, (c) => c.toUpperCase()),
  println: (args) => args.map(goPrint).join(' ') + '\n',
  print: (args) => args.map(goPrint).join(''),
  // docker's own additions (cli/templates): split, join, pad, truncate.
  split: ([v, sep]) => String(v).split(String(sep)),
  join: ([v, sep]) => (Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? x : goPrint(x))).join(String(sep)) : String(v)),
  pad: ([v, prefix, suffix]) => (String(v) === '' ? '' : ' '.repeat(Number(prefix)) + String(v) + ' '.repeat(Number(suffix))),
  truncate: ([v, n]) => {
    const s = String(v);
    return s.length < Number(n) ? s : s.slice(0, Number(n));
  },
  index: ([v, ...keys]) => {
    let cur = v;
    for (const k of keys) cur = cur === null || cur === undefined ? undefined : (cur as Record<string, Value>)[String(k)];
    return cur;
  },
};

function evalCommand(tokens: Token[], data: Value, piped: Value | undefined, hasPiped: boolean): Value {
  const [headToken, ...rest] = tokens;
  if (headToken === undefined) throw new TemplateError('template: :1: missing value for command');
  const head = headToken.text;
  if (FUNCS[head]) {
    const args = rest.map((t) => operand(t, data));
    if (hasPiped) args.push(piped);
    return FUNCS[head](args);
  }
  if (rest.length > 0 || hasPiped) throw new TemplateError(`template: :1: can't give argument to non-function ${head}`);
  return operand(headToken, data);
}

/** Execute `format` against `data`; throws TemplateError for what the subset does not cover. */
export function execTemplate(format: string, data: Value): string {
  let out = '';
  let pos = 0;
  while (pos < format.length) {
    const open = format.indexOf('{{', pos);
    if (open < 0) {
      out += format.slice(pos);
      break;
    }
    out += format.slice(pos, open);
    const close = format.indexOf('}}', open);
    if (close < 0) throw new TemplateError('template: :1: unclosed action');
    const raw = format.slice(open + 2, close);
    const expr = raw.replace(/^-\s/, '  ').replace(/\s-$/, '');
    if (/^\s*(if|range|with|else|end|define|template|block)\b/.test(expr)) {
      throw new TemplateError(`template: :1: "${expr.trim().split(/\s/)[0]}" is not supported by berth's --format yet`);
    }
    const stages: Token[][] = [];
    let cur: Token[] = [];
    for (const t of tokenize(expr, open + 2)) {
      if (t.text === '|') {
        stages.push(cur);
        cur = [];
      } else cur.push(t);
    }
    stages.push(cur);
    let value: Value;
    stages.forEach((stage, i) => {
      value = evalCommand(stage, data, value, i > 0);
    });
    out += typeof value === 'string' ? value : goPrint(value);
    pos = close + 2;
  }
  return out;
}
