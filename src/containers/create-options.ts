// Create-time checks of the limits and security parts of a container's config, and the defaults
// dockerd shows for them in `inspect` (HostConfig). Errors are dockerd's, status 400.
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { normaliseResources } from '../runtime/resources.js';
import { validateSecurity } from '../runtime/security-options.js';
import { MASKED_PATHS, READONLY_PATHS } from '../runtime/spec.js';
import { InvalidParameterError } from '../util/errors.js';
import type { ContainerConfig, HostConfig } from './model.js';

/** moby signal.ParseSignal: "SIGTERM", "TERM" or a number. */
export function checkSignal(sig: string): void {
  if (/^\d+$/.test(sig)) {
    if (Number(sig) === 0 || Number(sig) > 64) throw new InvalidParameterError(`Invalid signal: ${sig}`);
    return;
  }
  const name = sig.toUpperCase().replace(/^SIG/, '');
  if (!(`SIG${name}` in constants.signals) && !/^RTMIN(\+\d+)?$|^RTMAX(-\d+)?$/.test(name)) throw new InvalidParameterError(`Invalid signal: ${sig}`);
}

/** Validate and normalise; returns what to record and dockerd's warnings. */
export function checkCreateOptions(config: ContainerConfig, hostConfig: HostConfig): { hostConfig: HostConfig; warnings: string[] } {
  if (config.StopSignal) checkSignal(config.StopSignal);
  validateSecurity(hostConfig);
  const { hostConfig: hc, warnings } = normaliseResources(hostConfig);
  // dockerd's defaults for what the CLI sends as zero values.
  if (!hc.ShmSize) hc.ShmSize = 64 * 1024 * 1024;
  if (!hc.CgroupnsMode) hc.CgroupnsMode = existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'private' : 'host';
  // dockerd fills the masked and read-only /proc paths in for unprivileged containers.
  if (hc.MaskedPaths === undefined || hc.MaskedPaths === null) hc.MaskedPaths = hc.Privileged ? null : [...MASKED_PATHS];
  if (hc.ReadonlyPaths === undefined || hc.ReadonlyPaths === null) hc.ReadonlyPaths = hc.Privileged ? null : [...READONLY_PATHS];
  return { hostConfig: hc, warnings };
}

/** HostConfig fields of the limits/security part as `docker inspect` shows them when unset. */
export const LIMIT_DEFAULTS: Record<string, unknown> = {
  CpuShares: 0,
  Memory: 0,
  NanoCpus: 0,
  CgroupParent: '',
  BlkioWeight: 0,
  BlkioWeightDevice: [],
  BlkioDeviceReadBps: [],
  BlkioDeviceWriteBps: [],
  BlkioDeviceReadIOps: [],
  BlkioDeviceWriteIOps: [],
  CpuPeriod: 0,
  CpuQuota: 0,
  CpuRealtimePeriod: 0,
  CpuRealtimeRuntime: 0,
  CpusetCpus: '',
  CpusetMems: '',
  Devices: [],
  DeviceCgroupRules: null,
  DeviceRequests: null,
  MemoryReservation: 0,
  MemorySwap: 0,
  MemorySwappiness: null,
  OomKillDisable: false,
  PidsLimit: null,
  Ulimits: [],
  CpuCount: 0,
  CpuPercent: 0,
  IOMaximumIOps: 0,
  IOMaximumBandwidth: 0,
  MaskedPaths: null,
  ReadonlyPaths: null,
};
