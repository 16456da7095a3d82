// The network parts of docker's container JSON: NetworkSettings (inspect) and Ports (list).
import type { ContainerRecord } from '../containers/model.js';
import { netnsName } from './manager.js';

const running = (c: ContainerRecord) => c.state.Status === 'running' || c.state.Status === 'paused';

export function networkSettings(c: ContainerRecord): Record<string, unknown> {
  const live = running(c);
  const mode = c.hostConfig.NetworkMode ?? 'default';
  const ownNetns = live && mode !== 'host' && !mode.startsWith('container:');
  // docker fills the top-level (deprecated) address fields from the default bridge only.
  const bridge = c.networks?.bridge;
  return {
    Bridge: '',
    SandboxID: ownNetns ? c.id : '',
    SandboxKey: ownNetns ? `/run/netns/${netnsName(c.id)}` : '',
    Ports: live ? (c.ports ?? {}) : {},
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: bridge?.EndpointID ?? '',
    Gateway: bridge?.Gateway ?? '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: bridge?.IPAddress ?? '',
    IPPrefixLen: bridge?.IPPrefixLen ?? 0,
    IPv6Gateway: '',
    MacAddress: bridge?.MacAddress ?? '',
    Networks: c.networks ?? {},
  };
}

/** GET /containers/json Ports: published ports with their host side, exposed ones without. */
export function portList(c: ContainerRecord): Array<Record<string, unknown>> {
  if (!running(c)) return [];
  const out: Array<Record<string, unknown>> = [];
  for (const [key, bindings] of Object.entries(c.ports ?? {})) {
    const [port, type] = key.split('/');
    if (!bindings || bindings.length === 0) {
      out.push({ PrivatePort: Number(port), Type: type });
      continue;
    }
    for (const b of bindings) out.push({ IP: b.HostIp || '0.0.0.0', PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: type });
  }
  return out;
}
