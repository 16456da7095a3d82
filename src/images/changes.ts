// `--change` for import and commit: the Dockerfile instructions docker accepts there (CMD,
// ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR), applied to an
// image config's `config` object. Exec form is JSON; shell form runs through /bin/sh -c.
import { InvalidParameterError } from '../util/errors.js';
import type { ContainerDefaults } from './oci.js';

const ALLOWED = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'];

function jsonArray(rest: string): string[] | undefined {
  if (!rest.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(rest) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    // not JSON: shell form, as BuildKit treats it
  }
  return undefined;
}

function unquote(s: string): string {
  if (s.length >= 2 && ((s.startsWith('"') && s.endsWith('"')) || (s.startsWith("'") && s.endsWith("'")))) {
    return s.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return s.replace(/\\(.)/g, '$1');
}

/** key=value pairs (quotes allowed), or the legacy `KEY value` form with one pair. */
function pairs(rest: string, instruction: string): Array<[string, string]> {
  const words = rest.match(/(?:[^\s"']+|"(?:\\.|[^"\\])*"|'[^']*')+/g) ?? [];
  if (words.length === 0) throw new InvalidParameterError(`${instruction} requires at least one argument`);
  const first = words[0]!;
  if (!first.includes('=')) {
    const key = first;
    const value = rest.slice(rest.indexOf(key) + key.length).trim();
    if (instruction === 'LABEL' || value === '') throw new InvalidParameterError(`${instruction} must have two arguments`);
    return [[key, unquote(value)]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new InvalidParameterError(`${instruction} names can not be blank`);
    return [unquote(w.slice(0, eq)), unquote(w.slice(eq + 1))];
  });
}

/** Applies each change line to a copy of `base`. InvalidParameterError for anything docker refuses. */
export function applyChanges(base: ContainerDefaults, changes: string[]): ContainerDefaults {
  const c: ContainerDefaults = JSON.parse(JSON.stringify(base ?? {})) as ContainerDefaults;
  for (const raw of changes) {
    const line = raw.trim();
    if (line === '') continue;
    const m = /^(\S+)\s*([\s\S]*)$/.exec(line)!;
    const instruction = m[1].toUpperCase();
    const rest = m[2].trim();
    if (!ALLOWED.includes(instruction)) {
      throw new InvalidParameterError(`${m[1]} is not a valid change command`);
    }
    switch (instruction) {
      case 'CMD':
        c.Cmd = jsonArray(rest) ?? ['/bin/sh', '-c', rest];
        break;
      case 'ENTRYPOINT': {
        c.Entrypoint = jsonArray(rest) ?? ['/bin/sh', '-c', rest];
        break;
      }
      case 'ENV': {
        const env = [...(c.Env ?? [])];
        for (const [k, v] of pairs(rest, 'ENV')) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        c.Env = env;
        break;
      }
      case 'LABEL':
        c.Labels = { ...(c.Labels ?? {}), ...Object.fromEntries(pairs(rest, 'LABEL')) };
        break;
      case 'EXPOSE': {
        const ports = { ...(c.ExposedPorts ?? {}) };
        for (const p of rest.split(/\s+/).filter(Boolean)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) throw new InvalidParameterError(`invalid containerPort: ${p}`);
          ports[p.includes('/') ? p.toLowerCase() : `${p}/tcp`] = {};
        }
        c.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const vols = { ...(c.Volumes ?? {}) };
        for (const v of jsonArray(rest) ?? rest.split(/\s+/).filter(Boolean)) vols[v] = {};
        c.Volumes = vols;
        break;
      }
      case 'USER':
        c.User = rest;
        break;
      case 'WORKDIR':
        c.WorkingDir = rest.startsWith('/') ? rest : `${(c.WorkingDir || '/').replace(/\/$/, '')}/${rest}`;
        break;
      case 'STOPSIGNAL':
        c.StopSignal = rest;
        break;
      case 'ONBUILD':
        c.OnBuild = [...(c.OnBuild ?? []), rest];
        break;
    }
  }
  return c;
}
