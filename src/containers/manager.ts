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
import { mountOverlay, unmount } from '../runtime/mounts.js';
import type { EndpointRequest, NetworkManager } from '../network/manager.js';
import type { NetworkRecord } from '../network/model.js';
import { OciRuntime, RuntimeExecError } from '../runtime/oci-runtime.js';
import { buildSpec, containerEnv, mergeEnv, resolveUser } from '../runtime/spec.js';
import type { MetadataStore } from '../store/metadata.js';
import { BerthError, ConflictError, errorMessage, InvalidParameterError, NotFoundError } from '../util/errors.js';
import { logger } from '../util/log.js';
import {
  type ContainerConfig,
  type ContainerRecord,
  generateName,
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
  private readonly runtime: OciRuntime;
  /** Serialises lifecycle operations per container. */
  private readonly locks = new Map<string, Promise<unknown>>();
  private network!: NetworkManager;

  constructor(
    private readonly meta: MetadataStore,
    private readonly images: ImageStore,
    private readonly snapshots: SnapshotStore,
    private readonly paths: ContainerPaths,
    runtimeOptions: { runcPath: string; conmonPath: string },
  ) {
    this.events.setMaxListeners(0);
    this.runtime = new OciRuntime({
      runcPath: runtimeOptions.runcPath,
      conmonPath: runtimeOptions.conmonPath,
      runcRoot: join(paths.execRoot, 'runc'),
      stateDir: join(paths.execRoot, 'conmon'),
    });
    images.setUsers({
      containersUsing: (imageId) =>
        this.list().filter((c) => c.imageId === imageId).map((c) => ({ id: c.id, running: c.state.Status === 'running' || c.state.Status === 'paused' })),
      chainIdsInUse: () => new Set(this.list().flatMap((c) => c.chainIds)),
    });
  }

  /** Networking is wired after construction (the network manager reads container records). */
  setNetworking(network: NetworkManager): void {
    this.network = network;
  }

  private get exitDir(): string {
    return join(this.paths.execRoot, 'exits');
  }

  /** Reconcile records with reality after a (re)start, then watch for exits. */
  async init(): Promise<void> {
    await mkdir(this.exitDir, { recursive: true });
    await mkdir(join(this.paths.dataRoot, 'containers'), { recursive: true });
    for (const c of this.list()) {
      if (c.state.Status !== 'running' && c.state.Status !== 'paused') continue;
      const state = await this.runtime.state(c.id).catch(() => null);
      if (state && (state.status === 'running' || state.status === 'paused')) continue;
      // The process ended while berthd was away: the exit file, if conmon wrote one, has the code.
      const code = (await this.runtime.readExitCode(this.exitDir, c.id)) ?? 255;
      await this.onExit(c.id, code);
    }
    this.runtime.watchExits(this.exitDir, (id, code) => {
      void this.onExit(id, code).catch((err) => log.error({ err, id }, 'recording container exit failed'));
    });
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
    const { config, hostConfig } = req;
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
    let name = req.name?.replace(/^\//, '');
    if (req.name !== undefined && req.name !== '') {
      if (!VALID_NAME.test(req.name)) {
        throw new InvalidParameterError(`Invalid container name (${req.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      }
    } else {
      const names = new Set(this.list().map((c) => c.name));
      name = generateName((n) => names.has(n));
    }
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
      User: config.User ?? imageDefaults.User ?? '',
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
      Volumes: config.Volumes ?? imageDefaults.Volumes ?? null,
      WorkingDir: config.WorkingDir || imageDefaults.WorkingDir || '',
      Entrypoint: entrypoint.length > 0 ? entrypoint : null,
      OnBuild: null,
      Labels: { ...(imageDefaults.Labels ?? {}), ...(config.Labels ?? {}) },
      StopSignal: config.StopSignal ?? imageDefaults.StopSignal,
      StopTimeout: config.StopTimeout,
    };
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
      hostConfig: { NetworkMode: 'default', RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, ...hostConfig },
      state: initialState(),
      restartCount: 0,
      logPath: join(containerDir, `${id}-json.log`),
    };
    record.networks = this.network.endpointsForCreate(record.hostConfig.NetworkMode, req.networkingConfig?.EndpointsConfig ?? undefined);
    this.network.validateHostConfig(record);
    await mkdir(join(containerDir, 'upper'), { recursive: true });
    await mkdir(join(containerDir, 'work'), { recursive: true });
    await mkdir(join(containerDir, 'merged'), { recursive: true });
    try {
      this.meta.insertContainer(id, record.name, record);
    } catch (err) {
      await rm(containerDir, { recursive: true, force: true });
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        const holder = this.find(record.name);
        throw new ConflictError(
          `Conflict. The container name "/${record.name}" is already in use by container "${holder?.id ?? ''}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      }
      throw err;
    }
    log.debug({ id, name: record.name }, 'container created');
    return { id, warnings: [] };
  }

  start(idOrName: string): Promise<'started' | 'already'> {
    const c = this.get(idOrName);
    return this.locked(c.id, () => this.doStart(c.id));
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
      const hostname = c.config.Hostname ?? id.slice(0, 12);
      const spec = buildSpec({
        rootfsPath: rootfs,
        args: [c.path, ...c.args],
        env: containerEnv(c.config.Env ?? [], { hostname, tty: c.config.Tty ?? false, home: user.home }),
        cwd: c.config.WorkingDir || '/',
        user,
        hostname,
        terminal: c.config.Tty ?? false,
        readonlyRootfs: c.hostConfig.ReadonlyRootfs ?? false,
        netnsPath: net.netnsPath,
        hostNetwork: net.hostNetwork,
        cgroupsPath: `/berth/${id}`,
        etcHostsPath: net.etc.hosts,
        resolvConfPath: net.etc.resolvConf,
        hostnamePath: net.etc.hostname,
      });
      await writeFile(join(bundleDir, 'config.json'), JSON.stringify(spec));
      const { pid } = await this.runtime.create(id, { bundleDir, logPath: c.logPath, exitDir: this.exitDir, name: c.name });
      mark('created');
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
        setImmediate(() => void this.remove(id, { force: true }).catch((e) => log.warn({ err: e, id }, 'auto-remove failed')));
      }
      if (err instanceof BerthError && !(err instanceof RuntimeExecError)) throw err;
      throw new StartError(message, exitCode);
    }
  }

  /** Called for every exit conmon reports (or that happened while berthd was away). */
  private async onExit(id: string, code: number): Promise<void> {
    const c = this.meta.getContainerJson<ContainerRecord>(id);
    if (!c) return;
    await this.locked(id, async () => {
      const current = this.meta.getContainerJson<ContainerRecord>(id);
      if (!current || (current.state.Status !== 'running' && current.state.Status !== 'paused')) return;
      const oom = await this.runtime.wasOomKilled?.(id).catch(() => false);
      await this.teardown(current);
      this.update(id, (r) => {
        r.state = { ...r.state, Status: 'exited', Pid: 0, ExitCode: code, FinishedAt: new Date().toISOString(), OOMKilled: oom ?? false };
        r.ports = undefined;
        for (const ep of Object.values(r.networks ?? {})) Object.assign(ep, { EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '', DNSNames: null });
      });
      log.debug({ id, code }, 'container exited');
    });
    this.events.emit(`exit:${id}`, code);
    const after = this.meta.getContainerJson<ContainerRecord>(id);
    if (after?.hostConfig.AutoRemove) {
      await this.remove(id, { force: true }).catch((err) => log.warn({ err, id }, 'auto-remove failed'));
    }
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
    if (c.state.Status !== 'running' && c.state.Status !== 'paused') {
      throw new ConflictError(`Container ${c.id} is not running`);
    }
    await this.runtime.kill(c.id, signal);
  }

  /** Stop: the stop signal, then SIGKILL after the timeout. */
  async stop(idOrName: string, timeoutSeconds?: number, signal?: string): Promise<'stopped' | 'already'> {
    const c = this.get(idOrName);
    if (c.state.Status !== 'running' && c.state.Status !== 'paused') return 'already';
    const timeout = timeoutSeconds ?? c.config.StopTimeout ?? 10;
    const exited = this.waitForExit(c.id);
    await this.runtime.kill(c.id, signal ?? c.config.StopSignal ?? 'SIGTERM').catch(() => undefined);
    if (timeout >= 0) {
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeout * 1000).unref());
      if ((await Promise.race([exited, timer])) === 'timeout') await this.runtime.kill(c.id, 'SIGKILL').catch(() => undefined);
    }
    await exited;
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

  async remove(idOrName: string, opts: { force: boolean }): Promise<void> {
    const c = this.get(idOrName);
    await this.locked(c.id, async () => {
      const current = this.meta.getContainerJson<ContainerRecord>(c.id);
      if (!current) return;
      if (current.state.Status === 'running' || current.state.Status === 'paused') {
        if (!opts.force) {
          throw new ConflictError(
            `cannot remove container "/${current.name}": container is running: stop the container before removing or force remove`,
          );
        }
        await this.runtime.kill(c.id, 'SIGKILL').catch(() => undefined);
      }
      const wasRunning = current.state.Status === 'running' || current.state.Status === 'paused';
      this.update(c.id, (r) => (r.state.Status = 'removing'));
      // An exited container was torn down when it exited; only a live one still has runtime state.
      if (wasRunning) await this.teardown(current);
      await rm(join(this.paths.dataRoot, 'containers', c.id), { recursive: true, force: true });
      this.meta.deleteContainer(c.id);
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

  private update(id: string, mutate: (r: ContainerRecord) => void): ContainerRecord {
    return this.meta.transaction(() => {
      const r = this.meta.getContainerJson<ContainerRecord>(id);
      if (!r) throw new NotFoundError(`No such container: ${id}`);
      mutate(r);
      this.meta.putContainer(id, r.name, r);
      return r;
    });
  }

  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
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

function toArgv(v: string[] | string | null | undefined): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v === '' ? [] : [v];
  // `--entrypoint ""` arrives as [""]: docker reads it as "no entrypoint".
  return v.length === 1 && v[0] === '' ? [] : v;
}
