// Published ports: from HostConfig.PortBindings (and -P: every exposed port) to concrete host
// ports, checked free before anything is set up. The portmap CNI plugin forwards with iptables,
// which holds no socket, so berth checks two things: no berth container already publishes the
// port, and no host process listens on it (a trial bind).
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { BerthError, InvalidParameterError } from '../util/errors.js';
import type { CniPortMapping } from './cni.js';
import type { PortMap } from './model.js';

/** docker's ephemeral range for published ports without a host port. */
export const EPHEMERAL_MIN = 49153;
export const EPHEMERAL_MAX = 60999;

export class PortInUseError extends BerthError {
  constructor(message: string) {
    super(message, 500);
  }
}

export interface WantedPort {
  containerPort: number;
  protocol: 'tcp' | 'udp';
  hostIp: string;
  /** 0: any free port. */
  hostPort: number;
  /** "8000-8010": any free port of the range. */
  hostRange?: [number, number];
}

export function splitPortKey(key: string): { port: number; protocol: 'tcp' | 'udp' } {
  const [p, proto = 'tcp'] = key.split('/');
  if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535) throw new InvalidParameterError(`invalid port specification: "${key}"`);
  if (proto !== 'tcp' && proto !== 'udp') throw new InvalidParameterError(`invalid proto: ${proto}`);
  return { port: Number(p), protocol: proto };
}

export function wantedPorts(portBindings: PortMap | undefined, publishAll: boolean, exposed: Record<string, object> | null | undefined): WantedPort[] {
  const out: WantedPort[] = [];
  const seen = new Set<string>();
  for (const [key, bindings] of Object.entries(portBindings ?? {})) {
    const { port, protocol } = splitPortKey(key);
    seen.add(`${port}/${protocol}`);
    for (const b of bindings ?? [{ HostIp: '', HostPort: '' }]) {
      const hp = b.HostPort ?? '';
      const m = /^(\d+)(?:-(\d+))?$/.exec(hp);
      if (hp !== '' && (!m || Number(m[2] ?? m[1]) > 65535 || Number(m[2] ?? m[1]) < Number(m[1]))) {
        throw new InvalidParameterError(`invalid port specification: "${hp}"`);
      }
      const range: [number, number] | undefined = m?.[2] ? [Number(m[1]), Number(m[2])] : undefined;
      out.push({ containerPort: port, protocol, hostIp: b.HostIp ?? '', hostPort: hp === '' || range ? 0 : Number(hp), hostRange: range });
    }
  }
  if (publishAll) {
    for (const key of Object.keys(exposed ?? {})) {
      const { port, protocol } = splitPortKey(key);
      if (seen.has(`${port}/${protocol}`)) continue;
      out.push({ containerPort: port, protocol, hostIp: '', hostPort: 0 });
    }
  }
  return out;
}

function probeTcp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function probeUdp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind({ address: host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

function probe(p: { protocol: string; hostIp: string; hostPort: number }): Promise<boolean> {
  const host = p.hostIp || '0.0.0.0';
  return p.protocol === 'udp' ? probeUdp(host, p.hostPort) : probeTcp(host, p.hostPort);
}

const overlapsIp = (a: string, b: string) => a === b || a === '' || b === '' || a === '0.0.0.0' || b === '0.0.0.0';

/**
 * Concrete host ports for the wanted ones. `taken` lists what other berth containers publish.
 * The error names the port as docker does.
 */
export async function allocatePorts(wanted: WantedPort[], taken: CniPortMapping[]): Promise<CniPortMapping[]> {
  const out: CniPortMapping[] = [];
  const clash = (m: { hostPort: number; protocol: string; hostIp: string }) =>
    [...taken, ...out].some((t) => t.hostPort === m.hostPort && t.protocol === m.protocol && overlapsIp(t.hostIP ?? '', m.hostIp));
  for (const w of wanted) {
    if (w.hostIp && !/^[\d.]+$/.test(w.hostIp)) throw new InvalidParameterError(`invalid host IP for a published port: ${w.hostIp} (IPv4 only)`);
    const shownIp = w.hostIp || '0.0.0.0';
    let hostPort = w.hostPort;
    if (w.hostRange) {
      let found = 0;
      for (let cand = w.hostRange[0]; cand <= w.hostRange[1] && !found; cand++) {
        if (!clash({ hostPort: cand, protocol: w.protocol, hostIp: w.hostIp }) && (await probe({ ...w, hostPort: cand }))) found = cand;
      }
      if (!found) throw new PortInUseError(`Bind for ${shownIp}:${w.hostRange[0]}-${w.hostRange[1]} failed: port is already allocated`);
      hostPort = found;
    } else if (hostPort === 0) {
      let found = 0;
      const start = EPHEMERAL_MIN + Math.floor(Math.random() * (EPHEMERAL_MAX - EPHEMERAL_MIN));
      for (let i = 0; i <= EPHEMERAL_MAX - EPHEMERAL_MIN && !found; i++) {
        const cand = EPHEMERAL_MIN + ((start - EPHEMERAL_MIN + i) % (EPHEMERAL_MAX - EPHEMERAL_MIN + 1));
        if (!clash({ hostPort: cand, protocol: w.protocol, hostIp: w.hostIp }) && (await probe({ ...w, hostPort: cand }))) found = cand;
      }
      if (!found) throw new PortInUseError(`no free host port in ${EPHEMERAL_MIN}-${EPHEMERAL_MAX} for ${w.containerPort}/${w.protocol}`);
      hostPort = found;
    } else if (clash({ hostPort, protocol: w.protocol, hostIp: w.hostIp })) {
      throw new PortInUseError(`Bind for ${shownIp}:${hostPort} failed: port is already allocated`);
    } else if (!(await probe({ ...w, hostPort }))) {
      throw new PortInUseError(`listen ${w.protocol}4 ${shownIp}:${hostPort}: bind: address already in use`);
    }
    out.push({ hostPort, containerPort: w.containerPort, protocol: w.protocol, ...(w.hostIp && w.hostIp !== '0.0.0.0' ? { hostIP: w.hostIp } : {}) });
  }
  return out;
}

/** NetworkSettings.Ports: every exposed/published port, bound ones with their host side. */
export function portMap(mappings: CniPortMapping[], exposed: Record<string, object> | null | undefined): PortMap {
  const out: PortMap = {};
  for (const key of Object.keys(exposed ?? {})) {
    const { port, protocol } = splitPortKey(key);
    out[`${port}/${protocol}`] = null;
  }
  for (const m of mappings) {
    const key = `${m.containerPort}/${m.protocol}`;
    (out[key] ??= []).push({ HostIp: m.hostIP ?? '0.0.0.0', HostPort: String(m.hostPort) });
  }
  return out;
}
