// Container lifecycle: create → start (overlay rootfs, netns, OCI spec, conmon + runc) → exit
// (recorded from conmon's exit file) → remove. The record in SQLite is the truth; everything in the
// exec root can be rebuilt or cleaned from it after a daemon restart.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { ImageStore } from '../images/store.js';
import type { SnapshotStore } from '../images/snapshots.js';
import { familiarString, parseReference } from '../registry/reference.js';
import { resizeTerminal } from '../runtime/attach.js';
import { mountOverlay, unmount } from '../runtime/mounts.js';
import type { EndpointRequest, NetworkManager } from '../network/manager.js';
import type { NetworkRecord } from '../network/model.js';
import { OciRuntime, RuntimeExecError } from '../runtime/oci-runtime.js';
import type { RuntimeSet } from '../runtime/runtimes.js';
import { buildSpec, containerEnv, mergeEnv, resolveUser } from '../runtime/spec.js';
import { containerCgroupsPath, locateCgroup, oomKillCount } from '../runtime/cgroups.js';
import { applyHostConfig, resourceLimits, specJson } from '../runtime/resources.js';
import { securitySpecInput } from '../runtime/security-options.js';
import { checkCreateOptions } from './create-options.js';
import { BUILTIN_LOG_CONFIG, mergeLogConfig, recordLogPolicy, type LogConfig } from './log-config.js';
import { conmonSizeCap } from '../runtime/log-rotation.js';
import type { MetadataStore } from '../store/metadata.js';
import { BerthError, ConflictError, errorMessage, InvalidParameterError, NotFoundError } from '../util/errors.js';
import { logger } from '../util/log.js';
import { EventBus } from '../events/bus.js';
import { emitContainerEvent } from './events.js';
import { RestartTracker, restartsAtBoot, validateRestartPolicy } from './restart.js';
import { signalNumber } from './signals.js';
import { containerMountPoints, tmpfsMountPoints, type ApiMount } from '../volumes/container-mounts.js';
import { ociMountsFor } from '../volumes/runtime-mounts.js';
import type { VolumeStore } from '../volumes/store.js';
import {
  type ContainerConfig,
  type ContainerRecord,
  generateName,
  type HealthConfig,
  type HealthState,
  type HostConfig,
  initialState,
  VALID_NAME,
} from './model.js';

const log = logger('containers');

export interface ContainerPaths {
  dataRoot: string;
  execRoot: string;
}

export interface CreateRequest {
  name?: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
  networkingConfig?: { EndpointsConfig?: Record<string, EndpointRequest | null> | null } | null;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

/** Raised when the process cannot be executed; the message keeps runc's words so clients map 126/127. */
export class StartError extends BerthError {
  constructor(message: string, readonly exitCode: number) {
    super(message, exitCode === 127 || exitCode === 126 ? 400 : 500);
  }
}

export class ContainerManager {
  /** Emits `exit:<id>` (code), `startfailed:<id>` and `removed:<id>`. */
  private readonly events = new EventEmitter();
  readonly runtime: OciRuntime;
  /** Back-off and cancellation of restart policies. */
  readonly restarts = new RestartTracker();
  /** Set by the daemon's shutdown: stops then are not the user's, and nothing restarts. */
  shuttingDown = false;
  /** Emits `start` (id) once a container runs and `exit` (id, code) once its run ended. */
  readonly lifecycle = new EventEmitter();
  /** Serialises lifecycle operations per container. */
  private readonly locks = new Map<string, Promise<unknown>>();
  private network!: NetworkManager;
  /** daemon.json log-driver/log-opts (with berth's rotation defaults), merged into each create. */
  private readonly logDefaults: LogConfig;
  private volumes!: VolumeStore;

  constructor(
    readonly meta: MetadataStore,
    private readonly images: ImageStore,
    private readonly snapshots: SnapshotStore,
    private readonly paths: ContainerPaths,
    runtimeOptions: { runtimes: RuntimeSet; conmonPath: string; logDefaults?: LogConfig },
    readonly bus: EventBus = new EventBus(),
  ) {
    this.events.setMaxListeners(0);
    this.logDefaults = runtimeOptions.logDefaults ?? BUILTIN_LOG_CONFIG;
    this.runtime = new OciRuntime({
      runtimes: runtimeOptions.runtimes,
      conmonPath: runtimeOptions.conmonPath,
      rootsDir: paths.execRoot,
      stateDir: join(paths.execRoot, 'conmon'),
    });
    images.setUsers({
      containersUsing: (imageId) =>
        this.list().filter((c) => c.imageId === imageId).map((c) => ({ id: c.id, running: isLive(c.state.Status) })),
      chainIdsInUse: () => new Set(this.list().flatMap((c) => c.chainIds)),
    });
  }

  /** Networking is wired after construction (the network manager reads container records). */
  setNetworking(network: NetworkManager): void {
    this.network = network;
  }

  /** Volumes are wired after construction too: the volume store asks which containers use a volume. */
  setVolumes(volumes: VolumeStore): void {
    this.volumes = volumes;
    volumes.setUsers(() => {
      const users = new Map<string, string[]>();
      for (const c of this.list()) {
        for (const m of c.mounts ?? []) if (m.Type === 'volume' && m.Name) users.set(m.Name, [...(users.get(m.Name) ?? []), c.id]);
      }
      return users;
    });
  }

  private get exitDir(): string {
    return join(this.paths.execRoot, 'exits');
  }

  /** Reconcile records with reality after a (re)start, then watch for exits. */
  async init(): Promise<void> {
    await mkdir(this.exitDir, { recursive: true });
    await mkdir(join(this.paths.dataRoot, 'containers'), { recursive: true });
    const bootRestarts: string[] = [];
    for (const c of this.list()) {
      // A restart that was pending when berthd went away is due now.
      if (c.state.Status === 'restarting') {
        this.update(c.id, (r) => (r.state.Status = 'exited'));
        bootRestarts.push(c.id);
        continue;
      }
      if (c.state.Status !== 'running' && c.state.Status !== 'paused') {
        if (c.state.Status === 'exited' && restartsAtBoot(c)) bootRestarts.push(c.id);
        continue;
      }
      const state = await this.runtime.state(c.id).catch(() => null);
      if (state && (state.status === 'running' || state.status === 'paused')) continue;
      // The process ended while berthd was away: the exit file, if conmon wrote one, has the code.
      const code = (await this.runtime.readExitCode(this.exitDir, c.id)) ?? 255;
      await this.onExit(c.id, code);
    }
    this.runtime.watchExits(this.exitDir, (id, code) => {
      void this.onExit(id, code).catch((err) => log.error({ err, id }, 'recording container exit failed'));
    });
    this.bootRestarts = bootRestarts;
  }

  private bootRestarts: string[] = [];

  /**
   * dockerd's restore: restart-policy containers come back with the daemon. Called once the
   * rest of the daemon (networking) has reconciled its own state with the records.
   */
  restartAtBoot(): void {
    for (const id of this.bootRestarts.splice(0)) {
      void this.locked(id, () => this.doStart(id)).catch((err) => log.warn({ err, id }, 'restart at daemon start failed'));
    }
  }

  list(): ContainerRecord[] {
    return this.meta.listContainers<ContainerRecord>();
  }

  /** Look up by full ID, name (with or without "/"), or unique ID prefix, as docker does. */
  get(idOrName: string): ContainerRecord {
    const c = this.find(idOrName);
    if (!c) throw new NotFoundError(`No such container: ${idOrName}`);
    return c;
  }

  find(idOrName: string): ContainerRecord | undefined {
    const exact = this.meta.getContainerJson<ContainerRecord>(idOrName);
    if (exact) return exact;
    const all = this.list();
    const name = idOrName.replace(/^\//, '');
    const byName = all.find((c) => c.name === name);
    if (byName) return byName;
    if (!/^[a-f0-9]+$/.test(idOrName)) return undefined;
    const matches = all.filter((c) => c.id.startsWith(idOrName));
    if (matches.length > 1) throw new InvalidParameterError(`multiple IDs found with provided prefix: ${idOrName}`);
    return matches[0];
  }

  async create(req: CreateRequest): Promise<{ id: string; warnings: string[] }> {
    const { config } = req;
    // Limits and security options checked and normalised as dockerd records them.
    const { hostConfig, warnings } = checkCreateOptions(config, req.hostConfig);
    hostConfig.LogConfig = mergeLogConfig(hostConfig.LogConfig as Partial<LogConfig> | undefined, this.logDefaults);
    if (!config.Image) throw new InvalidParameterError('config cannot be empty in order to create a container');
    const image = this.images.resolve(config.Image);
    if (!image) {
      let shown = config.Image;
      try {
        shown = familiarString(parseReference(config.Image));
      } catch {
        // An unparsable name is reported as given.
      }
      throw new NotFoundError(`No such image: ${shown}`);
    }
    // docker: HostConfig.Runtime picks a configured runtime; the daemon's default otherwise.
    const runtime = hostConfig.Runtime || this.runtime.defaultRuntime;
    if (!this.runtime.has(runtime)) throw new InvalidParameterError(`unknown or invalid runtime name: ${runtime}`);
    let name = req.name?.replace(/^\//, '');
    if (req.name !== undefined && req.name !== '') {
      if (!VALID_NAME.test(req.name)) {
        throw new InvalidParameterError(`Invalid container name (${req.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      }
    } else {
      const names = new Set(this.list().map((c) => c.name));
      name = generateName((n) => names.has(n));
    }
    const restartPolicy = validateRestartPolicy(hostConfig);
    const imageDefaults = image.config.config ?? {};
    const entrypoint = toArgv(config.Entrypoint) ?? (config.Entrypoint === undefined || config.Entrypoint === null ? imageDefaults.Entrypoint ?? [] : []);
    // docker: an Entrypoint given at create time resets the image's Cmd unless Cmd is given too.
    const entrypointOverridden = config.Entrypoint !== undefined && config.Entrypoint !== null;
    const cmd = toArgv(config.Cmd) ?? (entrypointOverridden ? [] : imageDefaults.Cmd ?? []);
    const argv = [...entrypoint, ...cmd];
    if (argv.length === 0) throw new InvalidParameterError('no command specified');

    const id = randomBytes(32).toString('hex');
    const containerDir = join(this.paths.dataRoot, 'containers', id);
    const merged: ContainerConfig = {
      Hostname: config.Hostname || (hostConfig.NetworkMode === 'host' ? osHostname() : id.slice(0, 12)),
      Domainname: config.Domainname ?? '',
      User: config.User || imageDefaults.User || '',
      AttachStdin: config.AttachStdin ?? false,
      AttachStdout: config.AttachStdout ?? false,
      AttachStderr: config.AttachStderr ?? false,
      ExposedPorts: config.ExposedPorts ?? imageDefaults.ExposedPorts,
      Tty: config.Tty ?? false,
      OpenStdin: config.OpenStdin ?? false,
      StdinOnce: config.StdinOnce ?? false,
      Env: mergeEnv(imageDefaults.Env ?? [], config.Env ?? []),
      Cmd: cmd,
      Image: config.Image,
      // docker merges the request's volumes with the image's VOLUMEs (the CLI always sends {}).
      Volumes: config.Volumes || imageDefaults.Volumes ? { ...(imageDefaults.Volumes ?? {}), ...(config.Volumes ?? {}) } : null,
      WorkingDir: config.WorkingDir || imageDefaults.WorkingDir || '',
      Entrypoint: entrypoint.length > 0 ? entrypoint : null,
      OnBuild: null,
      Labels: { ...(imageDefaults.Labels ?? {}), ...(config.Labels ?? {}) },
      StopSignal: config.StopSignal ?? imageDefaults.StopSignal,
      StopTimeout: config.StopTimeout,
    };
    const healthcheck = mergeHealthcheck(config.Healthcheck, imageDefaults.Healthcheck);
    if (healthcheck) merged.Healthcheck = healthcheck;
    if (imageDefaults.Shell) merged.Shell = config.Shell ?? imageDefaults.Shell;
    else if (config.Shell) merged.Shell = config.Shell;
    const record: ContainerRecord = {
      id,
      name: name!,
      created: new Date().toISOString(),
      path: argv[0],
      args: argv.slice(1),
      image: config.Image,
      imageId: image.record.id,
      chainIds: image.record.chainIds,
      config: merged,
      hostConfig: { NetworkMode: 'default', ...hostConfig, RestartPolicy: restartPolicy, Runtime: runtime },
      state: initialState(),
      restartCount: 0,
      logPath: join(containerDir, `${id}-json.log`),
    };
    record.networks = this.network.endpointsForCreate(record.hostConfig.NetworkMode, req.networkingConfig?.EndpointsConfig ?? undefined);
    this.network.validateHostConfig(record);
    const tmpfsMounts = tmpfsMountPoints(hostConfig.Tmpfs as Record<string, string> | null | undefined);
    const volumeMounts = await containerMountPoints(
      {
        binds: hostConfig.Binds as string[] | null | undefined,
        mounts: hostConfig.Mounts as ApiMount[] | null | undefined,
        volumesFrom: hostConfig.VolumesFrom as string[] | null | undefined,
        imageVolumes: merged.Volumes,
        containerMounts: (idOrName) => {
          const other = this.find(idOrName);
          return other ? (other.mounts ?? []) : undefined;
        },
      },
      this.volumes,
    );
    record.mounts = [...volumeMounts.mounts, ...tmpfsMounts];
    await mkdir(join(containerDir, 'upper'), { recursive: true });
    await mkdir(join(containerDir, 'work'), { recursive: true });
    await mkdir(join(containerDir, 'merged'), { recursive: true });
    try {
      this.meta.insertContainer(id, record.name, record);
    } catch (err) {
      await rm(containerDir, { recursive: true, force: true });
      await volumeMounts.rollback();
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        const holder = this.find(record.name);
        throw new ConflictError(
          `Conflict. The container name "/${record.name}" is already in use by container "${holder?.id ?? ''}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      }
      throw err;
    }
    log.debug({ id, name: record.name }, 'container created');
    emitContainerEvent(this.bus, record, 'create');
    return { id, warnings };
  }

  /** A start by the user: a fresh restart policy count, and `unless-stopped` applies again. */
  start(idOrName: string): Promise<'started' | 'already'> {
    const c = this.get(idOrName);
    return this.locked(c.id, async () => {
      const current = this.get(c.id);
      if (isLive(current.state.Status)) return 'already';
      this.restarts.reset(c.id);
      this.update(c.id, (r) => {
        r.restartCount = 0;
        r.hasBeenManuallyStopped = false;
      });
      return this.doStart(c.id);
    });
  }

  private async doStart(id: string): Promise<'started' | 'already'> {
    const c = this.get(id);
    if (c.state.Status === 'running' || c.state.Status === 'paused') return 'already';
    if (c.state.Status === 'removing' || c.state.Status === 'dead') {
      throw new ConflictError(`cannot start a container that is being removed`);
    }
    const containerDir = join(this.paths.dataRoot, 'containers', id);
    const bundleDir = join(this.paths.execRoot, 'containers', id);
    const rootfs = join(containerDir, 'merged');
    let mounted = false;
    let netUp = false;
    const t0 = performance.now();
    const phases: Record<string, number> = {};
    const mark = (name: string) => (phases[name] = Math.round(performance.now() - t0));
    try {
      // Independent steps run side by side: each is a helper process, and spawning is slow here.
      // allSettled: a failed step must not leave another one finishing after the cleanup ran.
      const steps = await Promise.allSettled([
        mkdir(bundleDir, { recursive: true }).then(() =>
          mountOverlay({
            lowerDirs: c.chainIds.slice().reverse().map((chainId) => this.snapshots.diffPath(chainId)),
            upperDir: join(containerDir, 'upper'),
            workDir: join(containerDir, 'work'),
            target: rootfs,
          }).then(() => {
            mounted = true;
          }),
        ),
        this.network.setUp(c, containerDir).then((n) => {
          netUp = true;
          return n;
        }),
        rm(join(this.exitDir, id), { force: true }),
      ]);
      const failed = steps.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const net = (steps[1] as PromiseFulfilledResult<Awaited<ReturnType<NetworkManager['setUp']>>>).value;
      mark('prepared');
      const user = await resolveUser(rootfs, c.config.User ?? '');
      const mounts = await ociMountsFor(c.mounts ?? [], rootfs, this.volumes);
      const hostname = c.config.Hostname ?? id.slice(0, 12);
      const spec = buildSpec({
        rootfsPath: rootfs,
        args: [c.path, ...c.args],
        env: containerEnv(c.config.Env ?? [], { hostname, tty: c.config.Tty ?? false, home: user.home }),
        cwd: c.config.WorkingDir || '/',
        user,
        ...securitySpecInput(c.hostConfig),
        resources: resourceLimits(c.hostConfig),
        oomScoreAdj: (c.hostConfig.OomScoreAdj as number | undefined) ?? 0,
        shmSize: (c.hostConfig.ShmSize as number | undefined) || undefined,
        hostname,
        terminal: c.config.Tty ?? false,
        readonlyRootfs: c.hostConfig.ReadonlyRootfs ?? false,
        netnsPath: net.netnsPath,
        hostNetwork: net.hostNetwork,
        cgroupsPath: `/berth/${id}`,
        mounts,
        etcHostsPath: net.etc.hosts,
        resolvConfPath: net.etc.resolvConf,
        hostnamePath: net.etc.hostname,
      });
      applyHostConfig(spec, c.hostConfig);
      const learnSeccomp = this.runtime.prepareSpec(spec, c.hostConfig.Runtime);
      await writeFile(join(bundleDir, 'config.json'), specJson(spec));
      const { pid } = await this.runtime.create(id, {
        learnSeccomp,
        bundleDir,
        logPath: c.logPath,
        exitDir: this.exitDir,
        name: c.name,
        runtime: c.hostConfig.Runtime,
        terminal: c.config.Tty ?? false,
        stdin: c.config.OpenStdin ?? false,
        // docker's StdinOnce: the attached client's stdin ending closes the container's stdin;
        // otherwise it stays open across attaches.
        leaveStdinOpen: !(c.config.StdinOnce ?? false),
        // berthd rotates at max-size (log-rotation.ts); conmon's own cap bounds the disk without it.
        logSizeMax: conmonSizeCap(recordLogPolicy(c.hostConfig).rotation),
      });
      mark('created');
      // docker's HostConfig.ConsoleSize: the terminal has the client's size before the process runs.
      const size = c.hostConfig.ConsoleSize as [number, number] | undefined;
      if (c.config.Tty && Array.isArray(size) && size[0] > 0 && size[1] > 0) {
        await resizeTerminal(bundleDir, size[0], size[1]).catch((err) => log.debug({ err, id }, 'initial console size not set'));
      }
      await this.runtime.start(id);
      mark('started');
      log.debug({ id, phases }, 'container start timings (ms)');
      const state = { pid };
      this.update(id, (r) => {
        r.state = {
          ...r.state,
          Status: 'running',
          Pid: state?.pid ?? 0,
          ExitCode: 0,
          Error: '',
          StartedAt: new Date().toISOString(),
          FinishedAt: r.state.FinishedAt,
          OOMKilled: false,
        };
        r.hostnamePath = net.etc.hostname;
        r.hostsPath = net.etc.hosts;
        r.resolvConfPath = net.etc.resolvConf;
        r.networks = net.networks;
        r.ports = net.ports;
      });
      log.debug({ id }, 'container started');
      emitContainerEvent(this.bus, c, 'start');
      this.events.emit(`started:${id}`);
      this.lifecycle.emit('start', id);
      return 'started';
    } catch (err) {
      await this.runtime.delete(id, { force: true }).catch(() => undefined);
      if (netUp) await this.network.tearDown(c).catch(() => undefined);
      if (mounted) await unmount(rootfs).catch(() => undefined);
      const exitCode = err instanceof RuntimeExecError ? (err.kind === 'not-found' ? 127 : err.kind === 'permission' ? 126 : 128) : 128;
      const message = errorMessage(err);
      this.update(id, (r) => {
        r.state = { ...r.state, Status: r.state.Status === 'created' ? 'created' : 'exited', ExitCode: exitCode, Error: message };
      });
      this.events.emit(`startfailed:${id}`);
      // docker removes an auto-remove container whose start failed; `run --rm` waits for that.
      if (c.hostConfig.AutoRemove) {
        setImmediate(() => void this.remove(id, { force: true, volumes: true }).catch((e) => log.warn({ err: e, id }, 'auto-remove failed')));
      }
      if (err instanceof BerthError && !(err instanceof RuntimeExecError)) throw err;
      throw new StartError(message, exitCode);
    }
  }

  /** Called for every exit conmon reports (or that happened while berthd was away). */
  private async onExit(id: string, code: number): Promise<void> {
    const c = this.meta.getContainerJson<ContainerRecord>(id);
    if (!c) return;
    let restart = { restart: false, delayMs: 0 };
    let recorded: ContainerRecord | undefined;
    await this.locked(id, async () => {
      const current = this.meta.getContainerJson<ContainerRecord>(id);
      if (!current || (current.state.Status !== 'running' && current.state.Status !== 'paused')) return;
      // conmon's oom file, else the kernel's count in the cgroup (still there until runc delete).
      const oom =
        (await this.runtime.wasOomKilled(id).catch(() => false)) ||
        (await oomKillCount(locateCgroup(containerCgroupsPath(id))).catch(() => 0)) > 0;
      await this.teardown(current);
      const ranFor = Date.now() - Date.parse(current.state.StartedAt);
      if (!this.shuttingDown) restart = this.restarts.onExit(current, code, ranFor);
      recorded = this.update(id, (r) => {
        r.state = {
          ...r.state,
          Status: restart.restart ? 'restarting' : 'exited',
          Pid: 0,
          ExitCode: code,
          FinishedAt: new Date().toISOString(),
          OOMKilled: oom ?? false,
        };
        if (restart.restart) r.restartCount++;
        r.ports = undefined;
        for (const ep of Object.values(r.networks ?? {})) Object.assign(ep, { EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '', DNSNames: null });
      });
      log.debug({ id, code, restart }, 'container exited');
    });
    if (recorded) {
      const execDuration = String(Math.floor((Date.parse(recorded.state.FinishedAt) - Date.parse(recorded.state.StartedAt)) / 1000));
      emitContainerEvent(this.bus, recorded, 'die', { exitCode: String(code), execDuration });
    }
    this.events.emit(`exit:${id}`, code);
    this.lifecycle.emit('exit', id, code);
    if (restart.restart) {
      this.restarts.schedule(id, restart.delayMs, () => void this.restartByPolicy(id));
      return;
    }
    const after = this.meta.getContainerJson<ContainerRecord>(id);
    if (after?.hostConfig.AutoRemove) {
      await this.remove(id, { force: true, volumes: true }).catch((err) => log.warn({ err, id }, 'auto-remove failed'));
    }
  }

  /** The restart policy's own start, after its back-off; a failure ends the restarting. */
  private async restartByPolicy(id: string): Promise<void> {
    await this.locked(id, async () => {
      const c = this.meta.getContainerJson<ContainerRecord>(id);
      if (!c || c.state.Status !== 'restarting') return;
      try {
        await this.doStart(id);
      } catch (err) {
        log.warn({ err, id }, 'restart by policy failed');
        if (this.meta.getContainerJson<ContainerRecord>(id)?.state.Status === 'restarting') this.update(id, (r) => (r.state.Status = 'exited'));
      }
    });
  }

  /** Undo what start set up; each step tolerates having been done already. */
  private async teardown(c: ContainerRecord): Promise<void> {
    // The process is gone: runc's record, the netns and the rootfs mount can go at once.
    await Promise.all([
      this.runtime.delete(c.id, { force: true }).catch((err) => log.debug({ err, id: c.id }, 'runc delete')),
      this.network.tearDown(c).catch((err) => log.warn({ err, id: c.id }, 'network teardown')),
      unmount(join(this.paths.dataRoot, 'containers', c.id, 'merged')).catch((err) => log.warn({ err, id: c.id }, 'unmount failed')),
    ]);
    await rm(join(this.paths.execRoot, 'containers', c.id), { recursive: true, force: true });
    await rm(join(this.exitDir, c.id), { force: true });
  }

  async kill(idOrName: string, signal = 'SIGKILL'): Promise<void> {
    const c = this.get(idOrName);
    const sig = signalNumber(signal);
    if (c.state.Status === 'restarting' && (sig === 9 || sig === signalNumber(c.config.StopSignal ?? 'SIGTERM'))) {
      // dockerd: killing a restarting container ends the restart loop.
      this.restarts.cancel(c.id);
      this.update(c.id, (r) => {
        r.state.Status = 'exited';
        r.hasBeenManuallyStopped = true;
      });
      return;
    }
    if (c.state.Status !== 'running' && c.state.Status !== 'paused') {
      throw new ConflictError(`Container ${c.id} is not running`);
    }
    // dockerd: SIGKILL or the stop signal means "exit on next", and marks a manual stop.
    if (sig === 9 || sig === signalNumber(c.config.StopSignal ?? 'SIGTERM')) this.restarts.cancel(c.id);
    if (!this.shuttingDown) this.update(c.id, (r) => (r.hasBeenManuallyStopped = true));
    await this.runtime.kill(c.id, String(sig));
    emitContainerEvent(this.bus, c, 'kill', { signal: String(sig) });
    if (c.state.Status === 'paused') await this.resumeAfterSignal(c.id);
  }

  /** A frozen process cannot act on a signal: thaw it, as dockerd does after kill and stop. */
  private async resumeAfterSignal(id: string): Promise<void> {
    const cur = this.meta.getContainerJson<ContainerRecord>(id);
    if (cur?.state.Status !== 'paused') return;
    await this.runtime.resume(id).catch((err) => log.debug({ err, id }, 'resume after signal'));
    const now = this.meta.getContainerJson<ContainerRecord>(id);
    if (now?.state.Status === 'paused') {
      this.update(id, (r) => (r.state.Status = 'running'));
      emitContainerEvent(this.bus, now, 'unpause');
    }
  }

  /** Stop: the stop signal, then SIGKILL after the timeout. */
  async stop(idOrName: string, timeoutSeconds?: number, signal?: string): Promise<'stopped' | 'already'> {
    const c = this.get(idOrName);
    const sig = signalNumber(signal || c.config.StopSignal || 'SIGTERM');
    this.restarts.cancel(c.id);
    if (!this.shuttingDown && isLive(c.state.Status)) this.update(c.id, (r) => (r.hasBeenManuallyStopped = true));
    if (c.state.Status === 'restarting') {
      this.update(c.id, (r) => (r.state.Status = 'exited'));
      emitContainerEvent(this.bus, c, 'stop');
      return 'stopped';
    }
    if (c.state.Status !== 'running' && c.state.Status !== 'paused') return 'already';
    const timeout = timeoutSeconds ?? c.config.StopTimeout ?? 10;
    const exited = this.waitForExit(c.id);
    const send = async (n: number) => {
      try {
        await this.runtime.kill(c.id, String(n));
        emitContainerEvent(this.bus, c, 'kill', { signal: String(n) });
      } catch {
        // Gone already: the exit is on its way.
      }
      await this.resumeAfterSignal(c.id);
    };
    await send(sig);
    if (timeout >= 0) {
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeout * 1000).unref());
      if ((await Promise.race([exited, timer])) === 'timeout') await send(9);
    }
    await exited;
    emitContainerEvent(this.bus, c, 'stop');
    return 'stopped';
  }

  private waitForExit(id: string): Promise<number> {
    return new Promise((resolve) => this.events.once(`exit:${id}`, resolve));
  }

  /** docker's wait: resolves with the exit code per the condition. */
  async wait(idOrName: string, condition: WaitCondition): Promise<{ StatusCode: number; Error: { Message: string } | null }> {
    const c = this.get(idOrName);
    const running = c.state.Status === 'running' || c.state.Status === 'paused';
    if (condition === 'removed') {
      const code = await new Promise<number>((resolve) => {
        let lastCode = c.state.ExitCode;
        const onExit = (code: number) => (lastCode = code);
        this.events.on(`exit:${c.id}`, onExit);
        this.events.once(`removed:${c.id}`, () => {
          this.events.off(`exit:${c.id}`, onExit);
          resolve(lastCode);
        });
      });
      return { StatusCode: code, Error: null };
    }
    if (condition === 'not-running' && !running) return { StatusCode: c.state.ExitCode, Error: null };
    const code = await this.waitForExit(c.id);
    return { StatusCode: code, Error: null };
  }

  /** Resolves when the container's current run ends (immediately if it is not running). */
  exited(id: string): Promise<void> {
    const c = this.meta.getContainerJson<ContainerRecord>(id);
    if (!c || (c.state.Status !== 'running' && c.state.Status !== 'paused')) return Promise.resolve();
    return this.waitForExit(id).then(() => undefined);
  }

  /**
   * Resolves when the current run ends, or, for a container not running yet, when the next run
   * ends, its start fails, or it is removed: what an attached client waits for.
   */
  endOfRun(id: string): Promise<void> {
    return new Promise((resolve) => {
      const events = [`exit:${id}`, `startfailed:${id}`, `removed:${id}`];
      const done = () => {
        for (const e of events) this.events.off(e, done);
        resolve();
      };
      for (const e of events) this.events.once(e, done);
    });
  }

  /** Resolves true once the container runs (at once if it does), false if its run ends or it goes first. */
  whenRunning(id: string): Promise<boolean> {
    const c = this.meta.getContainerJson<ContainerRecord>(id);
    if (!c) return Promise.resolve(false);
    if (c.state.Status === 'running' || c.state.Status === 'paused') return Promise.resolve(true);
    return new Promise((resolve) => {
      const events = [`started:${id}`, `exit:${id}`, `startfailed:${id}`, `removed:${id}`];
      const handlers = events.map((e) => {
        const h = () => {
          events.forEach((ev, i) => this.events.off(ev, handlers[i]));
          resolve(e === events[0]);
        };
        this.events.once(e, h);
        return h;
      });
    });
  }

  /** Record a container's health (State.Health); a no-op for a container that is gone. */
  setHealth(id: string, health: HealthState | undefined): void {
    if (!this.meta.getContainerJson<ContainerRecord>(id)) return;
    this.update(id, (r) => {
      if (health) r.state.Health = health;
      else delete r.state.Health;
    });
  }

  /** The OCI bundle of a container while it runs (conmon's attach socket and ctl fifo are there). */
  bundleDir(id: string): string {
    return join(this.paths.execRoot, 'containers', id);
  }

  /** `volumes`: docker's `rm -v`, which an auto-remove container gets too: its anonymous volumes go with it. */
  async remove(idOrName: string, opts: { force: boolean; volumes?: boolean }): Promise<void> {
    const c = this.get(idOrName);
    await this.locked(c.id, async () => {
      const current = this.meta.getContainerJson<ContainerRecord>(c.id);
      if (!current) return;
      if (current.state.Status === 'restarting') {
        if (!opts.force) {
          throw new ConflictError(
            `cannot remove container "/${current.name}": container is restarting: stop the container before removing or force remove`,
          );
        }
        this.restarts.cancel(c.id);
      }
      if (current.state.Status === 'running' || current.state.Status === 'paused') {
        this.restarts.cancel(c.id);
        if (!opts.force) {
          throw new ConflictError(
            `cannot remove container "/${current.name}": container is running: stop the container before removing or force remove`,
          );
        }
        await this.runtime.kill(c.id, 'SIGKILL').catch(() => undefined);
        emitContainerEvent(this.bus, current, 'kill', { signal: '9' });
        if (current.state.Status === 'paused') await this.runtime.resume(c.id).catch(() => undefined);
      }
      const wasRunning = current.state.Status === 'running' || current.state.Status === 'paused';
      this.update(c.id, (r) => (r.state.Status = 'removing'));
      // An exited container was torn down when it exited; only a live one still has runtime state.
      if (wasRunning) {
        await this.teardown(current);
        const execDuration = String(Math.floor((Date.now() - Date.parse(current.state.StartedAt)) / 1000));
        emitContainerEvent(this.bus, current, 'die', { exitCode: '137', execDuration });
      }
      await rm(join(this.paths.dataRoot, 'containers', c.id), { recursive: true, force: true });
      this.meta.deleteContainer(c.id);
      this.restarts.forget(c.id);
      emitContainerEvent(this.bus, current, 'destroy');
      if (opts.volumes) {
        for (const m of current.mounts ?? []) {
          if (!m.anonymous || !m.Name) continue;
          // Still used by another container (--volumes-from): it stays, as in docker.
          await this.volumes.remove(m.Name, { force: true }).catch((err) => log.debug({ err, volume: m.Name }, 'anonymous volume kept'));
        }
      }
    });
    this.events.emit(`removed:${c.id}`);
  }

  /** docker network connect: attach now when running, else at the next start. */
  async connectNetwork(idOrName: string, net: NetworkRecord, req: EndpointRequest): Promise<void> {
    const c = this.get(idOrName);
    await this.locked(c.id, async () => {
      const ep = await this.network.connect(this.get(c.id), net, req);
      this.update(c.id, (r) => (r.networks = { ...r.networks, [net.name]: ep }));
    });
  }

  async disconnectNetwork(idOrName: string, net: NetworkRecord): Promise<void> {
    const c = this.get(idOrName);
    await this.locked(c.id, async () => {
      await this.network.disconnect(this.get(c.id), net);
      this.update(c.id, (r) => {
        const { [net.name]: _gone, ...rest } = r.networks ?? {};
        r.networks = rest;
      });
    });
  }

  /** @internal for the lifecycle modules (ops.ts): mutate a record in one transaction. */
  update(id: string, mutate: (r: ContainerRecord) => void): ContainerRecord {
    return this.meta.transaction(() => {
      const r = this.meta.getContainerJson<ContainerRecord>(id);
      if (!r) throw new NotFoundError(`No such container: ${id}`);
      mutate(r);
      this.meta.putContainer(id, r.name, r);
      return r;
    });
  }

  /** @internal for the lifecycle modules: serialise operations on one container. */
  async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.locks.set(id, settled);
    try {
      return await next;
    } finally {
      if (this.locks.get(id) === settled) this.locks.delete(id);
    }
  }
}

/** docker's merge of a create's Healthcheck with the image's: unset fields come from the image. */
function mergeHealthcheck(user: HealthConfig | null | undefined, image: HealthConfig | null | undefined): HealthConfig | undefined {
  if (!user) return image ?? undefined;
  if (!image) return user;
  const out: HealthConfig = { ...user };
  if (!user.Test || user.Test.length === 0) out.Test = image.Test;
  if (!user.Interval) out.Interval = image.Interval;
  if (!user.Timeout) out.Timeout = image.Timeout;
  if (!user.StartPeriod) out.StartPeriod = image.StartPeriod;
  if (!user.StartInterval) out.StartInterval = image.StartInterval;
  if (!user.Retries) out.Retries = image.Retries;
  return out;
}

function toArgv(v: string[] | string | null | undefined): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v === '' ? [] : [v];
  // `--entrypoint ""` arrives as [""]: docker reads it as "no entrypoint".
  return v.length === 1 && v[0] === '' ? [] : v;
}

/** Running, paused or restarting: the states docker counts as "running" for stop, rm and ps. */
export function isLive(status: string): boolean {
  return status === 'running' || status === 'paused' || status === 'restarting';
}
