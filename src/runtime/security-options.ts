// docker's --security-opt, capabilities and --privileged, read from HostConfig the way dockerd
// does (moby daemon.parseSecurityOpt, WithSeccomp, caps.NormalizeLegacyCapabilities), into the
// options buildSpec takes. Errors are dockerd's and are raised at create time (status 400).
import type { HostConfig } from '../containers/model.js';
import { InvalidParameterError } from '../util/errors.js';
import { effectiveCapabilities, type DockerSeccompProfile, type SpecInput } from './spec.js';

export interface SecurityOptions {
  noNewPrivileges: boolean;
  /** 'default', 'unconfined', or a profile given as JSON content. */
  seccomp: 'default' | 'unconfined' | DockerSeccompProfile;
  apparmor?: string;
  labels: string[];
}

function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  return undefined;
}

/** moby parseSecurityOpt. `seccomp=` carries the profile's JSON (the CLI reads the file). */
export function parseSecurityOpts(opts: readonly string[] | null | undefined): SecurityOptions {
  const out: SecurityOptions = { noNewPrivileges: false, seccomp: 'default', labels: [] };
  for (const opt of opts ?? []) {
    if (typeof opt !== 'string') throw new InvalidParameterError('json: cannot unmarshal SecurityOpt: expected strings');
    if (opt === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    if (opt === 'disable') {
      out.labels.push('disable');
      continue;
    }
    let k: string;
    let v: string;
    if (opt.includes('=')) [k, v] = [opt.slice(0, opt.indexOf('=')), opt.slice(opt.indexOf('=') + 1)];
    else if (opt.includes(':')) [k, v] = [opt.slice(0, opt.indexOf(':')), opt.slice(opt.indexOf(':') + 1)];
    else throw new InvalidParameterError(`invalid --security-opt 1: "${opt}"`);
    switch (k) {
      case 'label':
        out.labels.push(v);
        break;
      case 'apparmor':
        out.apparmor = v;
        break;
      case 'seccomp':
        out.seccomp = parseSeccompValue(v);
        break;
      case 'no-new-privileges': {
        const b = parseBool(v);
        if (b === undefined) throw new InvalidParameterError(`invalid --security-opt 2: "${opt}"`);
        out.noNewPrivileges = b;
        break;
      }
      default:
        throw new InvalidParameterError(`invalid --security-opt 2: "${opt}"`);
    }
  }
  return out;
}

function parseSeccompValue(v: string): SecurityOptions['seccomp'] {
  if (v === 'unconfined') return 'unconfined';
  if (v === 'builtin' || v === '') return 'default';
  let profile: unknown;
  try {
    profile = JSON.parse(v);
  } catch (err) {
    // A path reached the daemon: docker's CLI sends the file's content, not its name.
    throw new InvalidParameterError(`Decoding seccomp profile failed: ${(err as Error).message}`);
  }
  if (typeof profile !== 'object' || profile === null || typeof (profile as DockerSeccompProfile).defaultAction !== 'string') {
    throw new InvalidParameterError('Decoding seccomp profile failed: the profile needs a defaultAction');
  }
  return profile as DockerSeccompProfile;
}

/** Check capability names and security options at create (throws dockerd's 400 errors). */
export function validateSecurity(hc: HostConfig): void {
  for (const key of ['CapAdd', 'CapDrop'] as const) {
    const v = hc[key];
    if (v !== undefined && v !== null && (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))) {
      throw new InvalidParameterError(`json: cannot unmarshal HostConfig.${key}: expected an array of strings`);
    }
  }
  effectiveCapabilities({ capAdd: hc.CapAdd ?? [], capDrop: hc.CapDrop ?? [] });
  parseSecurityOpts(hc.SecurityOpt);
}

/** The buildSpec options that come from HostConfig's security fields. */
export function securitySpecInput(hc: HostConfig): Pick<SpecInput, 'capAdd' | 'capDrop' | 'privileged' | 'noNewPrivileges' | 'seccompProfile' | 'readonlyRootfs'> {
  const sec = parseSecurityOpts(hc.SecurityOpt);
  const privileged = hc.Privileged === true;
  return {
    capAdd: hc.CapAdd ?? [],
    capDrop: hc.CapDrop ?? [],
    privileged,
    noNewPrivileges: sec.noNewPrivileges,
    // moby WithSeccomp: a privileged container runs without seccomp whatever was asked.
    seccompProfile: privileged ? 'unconfined' : sec.seccomp,
    readonlyRootfs: hc.ReadonlyRootfs === true,
  };
}
