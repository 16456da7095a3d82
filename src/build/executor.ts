// The classic builder's execution model on berth's parts: each stage starts from an image (or
// scratch, or an earlier stage); metadata instructions change the config; RUN, COPY, ADD (and a
// pending WORKDIR) run on an overlay of the stage's snapshots plus a fresh upper dir, which becomes
// the step's layer. Every step is cached by (parent state, instruction after expansion, build args in
// effect, content of its sources), so an unchanged step reuses its result and a rebuild of the
// same inputs gives the same image ID.
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { PullService } from '../images/pull-service.js';
import type { PullProgress } from '../images/pull.js';
import type { ContainerDefaults, Descriptor, HistoryEntry, ImageConfig, ImageManifest } from '../images/oci.js';
import { MediaType } from '../images/oci.js';
import type { SnapshotStore } from '../images/snapshots.js';
import type { ImageStore } from '../images/store.js';
import { shortId } from '../images/store.js';
import { applyLayer, decompressStream } from '../images/unpack.js';
import { canonicalString, familiarString, parseReference } from '../registry/reference.js';
import { execChecked } from '../runtime/exec.js';
import { mountOverlay, mountReadOnlyOverlay, unmount } from '../runtime/mounts.js';
import { runcMessage } from '../runtime/oci-runtime.js';
import type { RuntimeEntry } from '../runtime/runtimes.js';
import { buildSpec, containerEnv, mergeEnv, resolveInRootfs, resolveUser, type OciMount } from '../runtime/spec.js';
import type { ContentStore } from '../store/content.js';
import { makeDurable } from '../store/durable.js';
import { sha256Digest } from '../util/digest.js';
import { BerthError, errorMessage, InvalidParameterError } from '../util/errors.js';
import { logger } from '../util/log.js';
import { BuildCache, type CachedState } from './cache.js';
import { copyItems, CopyError, hashSources, parseChmod, resolveSources, writeFileInto, type CopyOptions, type SourceItem } from './copy.js';
import { loadDockerfile, parseTrigger, type Command, type CopyCommand, type Dockerfile, type RunCommand, type Stage } from './instructions.js';
import { commitUpper } from './layer.js';
import { envLookup, ExpansionError, processWord, processWords } from './lex.js';
import { DockerfileError } from './parser.js';
import { StageOutput } from './stage-output.js';

const log = logger('build');

/** A build failure: the message docker prints, and for a failed RUN its exit code. */
export class BuildError extends BerthError {
  constructor(
    message: string,
    readonly exitCode?: number,
  ) {
    super(message, 400);
  }
}

export interface BuildOptions {
  contextDir: string;
  dockerfile: string;
  dockerfileName: string;
  tags: string[];
  buildArgs: Record<string, string | null>;
  target?: string;
  noCache: boolean;
  pull: boolean;
  labels: Record<string, string>;
  /** Fires when the client went away: the build stops at the next step and tags nothing. */
  signal?: AbortSignal;
}

export interface BuildOutput {
  /** Step text for the classic stream (`{"stream": ...}`). */
  stream(text: string): void;
  /** Pull progress while fetching a base image (`{"status": ..., "id": ...}`). */
  status(msg: Record<string, unknown>): void;
  /** The built image's ID, before "Successfully built" (`{"aux": {"ID": ...}}`). */
  aux(msg: Record<string, unknown>): void;
}

export interface BuilderDeps {
  content: ContentStore;
  snapshots: SnapshotStore;
  images: ImageStore;
  pulls: PullService;
  dataRoot: string;
  execRoot: string;
  /** The daemon's default OCI runtime (crun where it runs, as for containers): RUN steps run under it. */
  runtime: RuntimeEntry;
  /** A RUN step's network namespace on the default bridge, as docker's classic builder gives RUN; loopback only without it. */
  stepNetwork?: (id: string) => Promise<{ netnsPath: string; release(): Promise<void> }>;
}

interface State extends CachedState {
  /** Digest of the config: the step's image ID. */
  id: string;
}

interface StageRun {
  state: State;
  args: Map<string, string>;
  /** CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
  /** WORKDIR set but not yet created in a layer. */
  workdirPending: boolean;
}

/** Build args docker accepts without an ARG line. */
const PREDEFINED_ARGS = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']);
const DEFAULT_SHELL = ['/bin/sh', '-c'];

function configId(config: ImageConfig): string {
  return sha256Digest(JSON.stringify(config));
}

function goQuote(args: string[]): string {
  return `[${args.map((a) => JSON.stringify(a)).join(' ')}]`;
}

export class Builder {
  private readonly cache: BuildCache;
  private readonly root: string;
  private initLayer: string | undefined;
  /** Builds running now: the daemon waits for them to wind down (kill their RUN, release its network) before it exits. */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly deps: BuilderDeps) {
    this.root = join(deps.dataRoot, 'build');
    this.cache = new BuildCache(join(this.root, 'cache'));
    fs.mkdirSync(join(this.root, 'tmp'), { recursive: true });
    deps.images.addGcRoot(() => this.cache.roots());
  }

  /** Cleans what an interrupted build left (called at daemon start). */
  async init(): Promise<void> {
    const tmp = join(this.root, 'tmp');
    for (const name of await fsp.readdir(tmp).catch(() => [] as string[])) {
      await unmount(join(tmp, name, 'merged')).catch(() => undefined);
      await unmount(join(tmp, name, 'src')).catch(() => undefined);
      await fsp.rm(join(tmp, name), { recursive: true, force: true }).catch(() => undefined);
    }
  }

  async build(opts: BuildOptions, out: BuildOutput): Promise<{ id: string; tags: string[] }> {
    const running = this.buildInner(opts, out);
    const tracked = running.catch(() => undefined);
    this.inFlight.add(tracked);
    void tracked.then(() => this.inFlight.delete(tracked));
    return running;
  }

  /**
   * Waits (at most `timeoutMs`) for the builds in progress to end. The daemon calls it on shutdown
   * once its connections are closed, which cancels every build: a RUN step's container is killed
   * and its network namespace released instead of being left behind by the exiting daemon.
   */
  async drain(timeoutMs: number): Promise<void> {
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.inFlight]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  private async buildInner(opts: BuildOptions, out: BuildOutput): Promise<{ id: string; tags: string[] }> {
    const tags = opts.tags.map((t) => {
      const ref = parseReference(t);
      if (ref.digest) throw new InvalidParameterError(`invalid reference format: ${t}: a build tag cannot have a digest`);
      return { ...ref, tag: ref.tag ?? 'latest' };
    });
    let df: Dockerfile;
    try {
      df = loadDockerfile(opts.dockerfile, opts.dockerfileName);
    } catch (err) {
      if (err instanceof DockerfileError) throw new BuildError(`dockerfile parse error: ${err.message}`);
      throw err;
    }
    const run = new BuildRun(this, df, opts, out);
    const id = await run.execute();
    for (const t of tags) {
      this.deps.images.add({ ...this.deps.images.get(id).record }, t);
      out.stream(`Successfully tagged ${familiarString(t)}\n`);
    }
    return { id, tags: tags.map((t) => canonicalString(t)) };
  }

  /** @internal */
  get d(): BuilderDeps {
    return this.deps;
  }
  /** @internal */
  get buildCache(): BuildCache {
    return this.cache;
  }
  /** @internal */
  get tmpRoot(): string {
    return join(this.root, 'tmp');
  }

  /** moby's init layer: mount points and /etc files, so a RUN's upper dir holds only its own changes. */
  async initLayerDir(): Promise<string> {
    if (this.initLayer) return this.initLayer;
    const dir = join(this.root, 'init-layer');
    for (const d of ['proc', 'sys', 'dev', 'dev/pts', 'dev/shm', 'dev/mqueue', 'etc']) await fsp.mkdir(join(dir, d), { recursive: true, mode: 0o755 });
    for (const f of ['etc/hosts', 'etc/hostname', 'etc/resolv.conf']) await fsp.writeFile(join(dir, f), '');
    this.initLayer = dir;
    return dir;
  }
}

/** What belongs to the stage a step runs in (stages may run in parallel: see runStages). */
interface StageContext {
  index: number;
  out: StageOutput;
  /** Number of the next Step line: fixed by the stage's place in the sequential order. */
  step: number;
  /** Read-only overlays of other stages mounted for COPY --from / RUN --mount from=. */
  mounts: string[];
  /** Fires when an earlier stage failed: this stage's output would never be shown, so it stops. */
  stop: AbortSignal;
}

class BuildRun {
  /** Finished stages. */
  private readonly stages = new Map<number, StageRun>();
  /** Every scheduled stage, settled when it finished (or failed). */
  private readonly scheduled = new Map<number, Promise<StageRun>>();
  private readonly stageContext = new AsyncLocalStorage<StageContext>();
  private total = 0;
  private readonly usedArgs = new Set<string>();
  private readonly metaArgs = new Map<string, string>();
  private readonly tmp: string;

  constructor(
    private readonly b: Builder,
    private readonly df: Dockerfile,
    private readonly opts: BuildOptions,
    private readonly out: BuildOutput,
  ) {
    this.tmp = join(b.tmpRoot, randomBytes(8).toString('hex'));
  }

  private err(cmd: { line: number }, msg: string, code?: number): BuildError {
    return new BuildError(`${this.df.file}:${cmd.line}: ${msg}`, code);
  }

  async execute(): Promise<string> {
    await fsp.mkdir(this.tmp, { recursive: true });
    try {
      return await this.executeInner();
    } finally {
      await fsp.rm(this.tmp, { recursive: true, force: true }).catch((e) => log.warn({ err: e }, 'cannot remove build temp dir'));
    }
  }

  private async executeInner(): Promise<string> {
    for (const a of this.df.metaArgs) {
      for (const kv of a.args) {
        const given = this.opts.buildArgs[kv.key];
        if (given !== undefined && given !== null) this.metaArgs.set(kv.key, given);
        else if (kv.value !== undefined) this.metaArgs.set(kv.key, this.expand(a, kv.value, envLookup(this.metaArgs)));
        if (given !== undefined) this.usedArgs.add(kv.key);
      }
    }
    let targetIndex = this.df.stages.length - 1;
    if (this.opts.target) {
      const t = this.df.stages.find((s) => s.name === this.opts.target!.toLowerCase());
      if (!t) throw new BuildError(`failed to reach build target ${this.opts.target} in Dockerfile`);
      targetIndex = t.index;
    }
    await this.runStages(this.neededStages(targetIndex));
    this.checkCancelled();
    const final = this.stages.get(targetIndex)!.state;
    const id = await this.registerImage(final);
    const unused = Object.keys(this.opts.buildArgs).filter((k) => !this.usedArgs.has(k) && !PREDEFINED_ARGS.has(k)).sort();
    if (unused.length > 0) this.out.stream(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    this.out.aux({ ID: id });
    this.out.stream(`Successfully built ${shortId(id)}\n`);
    return id;
  }

  /**
   * Runs the stages, each as soon as the stages it names are built: independent stages build in
   * parallel. The output still reads as the classic builder's sequential one: Step numbers follow
   * the Dockerfile's order, a stage's lines are held back until every stage before it has been
   * shown, and the first failing stage in that order decides the error (later stages are stopped;
   * earlier ones finish, as they would have before it ran).
   */
  private async runStages(needed: number[]): Promise<void> {
    const deps = new Map(needed.map((i) => [i, this.stageDeps(i).filter((d) => needed.includes(d))]));
    const contexts: StageContext[] = [];
    const stops: AbortController[] = [];
    let next = 1;
    for (const i of needed) {
      const stop = new AbortController();
      stops.push(stop);
      contexts.push({ index: i, out: new StageOutput(this.out), step: next, mounts: [], stop: stop.signal });
      next += 1 + this.df.stages[i].commands.length;
    }
    this.total = next - 1;
    needed.forEach((i, k) => {
      const ctx = contexts[k];
      const started = Promise.all(deps.get(i)!.map((d) => this.scheduled.get(d)!));
      const run = started.then(() => this.stageContext.run(ctx, () => this.runStage(this.df.stages[i])));
      run.catch(() => {
        // Stages after this one in the output order would never be shown: stop them.
        for (const later of stops.slice(k + 1)) later.abort();
      });
      this.scheduled.set(i, run);
    });
    try {
      for (let k = 0; k < needed.length; k++) {
        contexts[k].out.show();
        await this.scheduled.get(needed[k]);
      }
    } catch (err) {
      // Stopped stages end at their next step (a running RUN is killed); none may outlive the build.
      await Promise.allSettled(this.scheduled.values());
      throw err;
    }
  }

  /** Stages that stage `i` names (FROM <stage>, COPY --from, RUN --mount from=), as far as known before it runs. */
  private stageDeps(i: number): number[] {
    const env = envLookup(this.metaArgs);
    const s = this.df.stages[i];
    const refs: string[] = [];
    try {
      refs.push(processWord(s.from.image, env, { escape: this.df.escape }));
    } catch {
      // reported when the stage runs
    }
    for (const c of s.commands) {
      if (c.kind === 'copy' && c.from) refs.push(c.from);
      if (c.kind === 'run') for (const m of c.mounts) for (const f of m.split(',')) if (f.startsWith('from=')) refs.push(f.slice(5));
    }
    return refs.map((r) => this.stageRef(r, i)).filter((d): d is number => d !== undefined);
  }

  /** The target and the stages it needs (FROM <stage>, COPY --from, RUN --mount from=), in order. */
  private neededStages(target: number): number[] {
    const need = new Set<number>();
    const visit = (i: number) => {
      if (need.has(i)) return;
      need.add(i);
      for (const dep of this.stageDeps(i)) visit(dep);
    };
    visit(target);
    return [...need].sort((a, b) => a - b);
  }

  /** A stage named or numbered by `ref`, defined before stage `before`. */
  private stageRef(ref: string, before: number): number | undefined {
    const lower = ref.toLowerCase();
    const byName = this.df.stages.find((s) => s.name === lower && s.index < before);
    if (byName) return byName.index;
    if (/^\d+$/.test(ref) && Number(ref) < before) return Number(ref);
    return undefined;
  }

  private expand(cmd: { line: number }, word: string, env: (n: string) => string | undefined): string {
    try {
      return processWord(word, env, { escape: this.df.escape });
    } catch (err) {
      if (err instanceof ExpansionError) throw this.err(cmd, err.message);
      throw err;
    }
  }

  private expandWords(cmd: { line: number }, word: string, env: (n: string) => string | undefined): string[] {
    try {
      return processWords(word, env, { escape: this.df.escape });
    } catch (err) {
      if (err instanceof ExpansionError) throw this.err(cmd, err.message);
      throw err;
    }
  }

  private checkCancelled(): void {
    if (this.opts.signal?.aborted) throw new BuildError('the build was cancelled: the client went away');
    if (this.stageContext.getStore()?.stop.aborted) throw new BuildError('stopped: an earlier stage failed');
  }

  /** The running stage's context (every step runs inside runStages). */
  private get ctx(): StageContext {
    const ctx = this.stageContext.getStore();
    if (!ctx) throw new Error('build step outside a stage');
    return ctx;
  }

  /** Where the running stage's lines go. */
  private get o(): StageOutput {
    return this.ctx.out;
  }

  private header(text: string): void {
    this.checkCancelled();
    this.o.stream(`Step ${this.ctx.step++}/${this.total} : ${text}\n`);
  }

  // ---- stages -------------------------------------------------------------------------------

  private async runStage(stage: Stage): Promise<StageRun> {
    try {
      const sr = await this.runStageSteps(stage);
      this.stages.set(stage.index, sr);
      return sr;
    } finally {
      await this.releaseSources(this.ctx.mounts);
    }
  }

  private async runStageSteps(stage: Stage): Promise<StageRun> {
    this.header(stage.from.original);
    const sr = await this.from(stage);
    // The classic builder shows no ID for scratch: there is no image yet.
    this.o.stream(sr.state.chainIds.length === 0 && sr.state.config.history?.length === 0 ? ' ---> \n' : ` ---> ${shortId(sr.state.id)}\n`);
    const triggers = sr.state.config.config?.OnBuild ?? [];
    if (triggers.length > 0) {
      this.o.stream(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      for (const t of triggers) {
        const cmd = parseTrigger(t, this.df.file, stage.from.line, this.df.escape);
        sr.state = await this.dispatch(sr, cmd, stage);
      }
      const config = structuredClone(sr.state.config);
      config.config = { ...config.config, OnBuild: null };
      sr.state = withId({ ...sr.state, config });
    }
    for (const cmd of stage.commands) {
      this.header(cmd.original);
      sr.state = await this.dispatch(sr, cmd, stage);
      this.o.stream(` ---> ${shortId(sr.state.id)}\n`);
    }
    if (sr.workdirPending) {
      // The directory exists in the image, as docker's WORKDIR makes it, even if no later step wrote a layer.
      sr.state = await this.layerStep(sr, { kind: 'workdir', dir: sr.state.config.config?.WorkingDir }, `/bin/sh -c #(nop) WORKDIR ${sr.state.config.config?.WorkingDir}`, async () => undefined, stage.from);
    }
    return sr;
  }

  private async from(stage: Stage): Promise<StageRun> {
    const cmd = stage.from;
    if (cmd.platform) {
      const p = this.expand(cmd, cmd.platform, envLookup(this.metaArgs));
      if (!['linux/amd64', 'linux/x86_64', 'linux'].includes(p)) throw this.err(cmd, `platform ${p} is not supported: berth builds linux/amd64 images`);
    }
    const name = this.expand(cmd, cmd.image, envLookup(this.metaArgs));
    if (name === '') throw this.err(cmd, 'base name (' + cmd.image + ') should not be blank');
    const base = { args: new Map<string, string>(), cmdSet: false, workdirPending: false };
    if (name.toLowerCase() === 'scratch') {
      const config: ImageConfig = { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] };
      return { ...base, state: withId({ config, chainIds: [], layers: [], sizes: [] }) };
    }
    const dep = this.stageRef(name, stage.index);
    if (dep !== undefined) {
      const prev = await this.builtStage(dep);
      if (!prev) throw this.err(cmd, `stage ${name} was not built`);
      return { ...base, state: prev.state };
    }
    return { ...base, state: await this.imageState(cmd, name) };
  }

  /** A local image (pulled first if missing or --pull) as a build state. */
  private async imageState(cmd: { line: number }, name: string): Promise<State> {
    let ref;
    try {
      ref = parseReference(name);
    } catch (err) {
      throw this.err(cmd, errorMessage(err));
    }
    const images = this.b.d.images;
    if (this.opts.pull || !images.resolve(name)) {
      const withTag = ref.tag || ref.digest ? ref : { ...ref, tag: 'latest' };
      const o = this.o;
      o.status({ status: `Pulling from ${withTag.path}`, id: withTag.digest ?? withTag.tag });
      try {
        const res = await this.b.d.pulls.pull(withTag, {
          onProgress: (ev: PullProgress) => o.status({ status: ev.status, progressDetail: ev.progressDetail ?? {}, id: ev.id }),
        });
        this.o.status({ status: `Digest: ${res.repoDigest}` });
        this.o.status({ status: `Status: ${res.updated ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarString(withTag)}` });
      } catch (err) {
        throw this.err(cmd, `pull access denied or image not found: ${familiarString(withTag)}: ${errorMessage(err)}`);
      }
    }
    const img = images.resolve(ref.tag || ref.digest ? name : `${name}:latest`) ?? images.resolve(name);
    if (!img) throw this.err(cmd, `No such image: ${name}`);
    let layers: Descriptor[] = [];
    try {
      const manifest = JSON.parse(this.b.d.content.readBuffer(img.record.manifestDigest).toString('utf8')) as ImageManifest;
      layers = manifest.layers;
    } catch {
      throw this.err(cmd, `image ${name}: its manifest is missing from the content store`);
    }
    const sizes = await Promise.all(img.record.chainIds.map(async (c) => (await this.b.d.snapshots.info(c))?.size ?? 0));
    return { id: img.record.id, config: structuredClone(img.config), chainIds: [...img.record.chainIds], layers, sizes };
  }

  // ---- instructions ---------------------------------------------------------------------------

  /** Build args in effect for RUN: declared in this stage, with a value, not overridden by ENV. */
  private argsInEffect(sr: StageRun): string[] {
    const envKeys = new Set((sr.state.config.config?.Env ?? []).map((e) => e.split('=', 1)[0]));
    return [...sr.args.entries()].filter(([k]) => !envKeys.has(k)).map(([k, v]) => `${k}=${v}`).sort();
  }

  /** Variables for expansion: ARGs, then ENV over them. */
  private lookup(sr: StageRun): (n: string) => string | undefined {
    const env = envLookup(sr.state.config.config?.Env ?? []);
    return (n) => env(n) ?? sr.args.get(n);
  }

  private async dispatch(sr: StageRun, cmd: Command, stage: Stage): Promise<State> {
    const env = this.lookup(sr);
    const c = sr.state.config.config ?? {};
    const shell = c.Shell ?? DEFAULT_SHELL;
    const meta = (change: (cfg: ContainerDefaults, config: ImageConfig) => void, comment: string) =>
      this.metaStep(sr, comment, change);
    switch (cmd.kind) {
      case 'env': {
        const pairs = cmd.pairs.map((p) => `${this.expand(cmd, p.key, env)}=${this.expand(cmd, p.value ?? '', env)}`);
        return meta((cfg) => (cfg.Env = mergeEnv(cfg.Env ?? [], pairs)), `ENV ${pairs.join(' ')}`);
      }
      case 'label': {
        const pairs = cmd.pairs.map((p) => [this.expand(cmd, p.key, env), this.expand(cmd, p.value ?? '', env)] as const);
        return meta((cfg) => (cfg.Labels = { ...(cfg.Labels ?? {}), ...Object.fromEntries(pairs) }), `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
      }
      case 'arg': {
        const shown: string[] = [];
        for (const kv of cmd.args) {
          const given = this.opts.buildArgs[kv.key];
          if (given !== undefined) this.usedArgs.add(kv.key);
          let value: string | undefined;
          if (given !== undefined && given !== null) value = given;
          else if (kv.value !== undefined) value = this.expand(cmd, kv.value, env);
          else value = this.metaArgs.get(kv.key);
          if (value !== undefined) sr.args.set(kv.key, value);
          shown.push(kv.value !== undefined ? `${kv.key}=${kv.value}` : kv.key);
        }
        return meta(() => undefined, `ARG ${shown.join(' ')}`);
      }
      case 'expose': {
        const ports = cmd.words.flatMap((w) => this.expandWords(cmd, w, env)).flatMap((p) => expandPort(p, () => this.err(cmd, `invalid containerPort: ${p}`)));
        return meta((cfg) => (cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}), ...Object.fromEntries(ports.map((p) => [p, {}])) }), `EXPOSE ${ports.join(' ')}`);
      }
      case 'volume': {
        const vols = cmd.words.flatMap((w) => this.expandWords(cmd, w, env));
        if (vols.some((v) => v === '')) throw this.err(cmd, 'VOLUME specified can not be an empty string');
        return meta((cfg) => (cfg.Volumes = { ...(cfg.Volumes ?? {}), ...Object.fromEntries(vols.map((v) => [v, {}])) }), `VOLUME [${vols.join(' ')}]`);
      }
      case 'workdir': {
        const dir = this.expand(cmd, cmd.value, env);
        const abs = posix.normalize(dir.startsWith('/') ? dir : posix.join(c.WorkingDir || '/', dir));
        const clean = abs.length > 1 ? abs.replace(/\/+$/, '') : abs;
        sr.workdirPending = true;
        return meta((cfg) => (cfg.WorkingDir = clean), `WORKDIR ${clean}`);
      }
      case 'user': {
        const u = this.expand(cmd, cmd.value, env);
        return meta((cfg) => (cfg.User = u), `USER ${u}`);
      }
      case 'stopsignal': {
        const s = this.expand(cmd, cmd.value, env);
        if (!/^(SIG)?[A-Z0-9+-]+$/i.test(s)) throw this.err(cmd, `Invalid signal: ${s}`);
        return meta((cfg) => (cfg.StopSignal = s), `STOPSIGNAL ${s}`);
      }
      case 'maintainer':
        return meta((_cfg, config) => (config.author = cmd.value), `MAINTAINER ${cmd.value}`);
      case 'shell':
        return meta((cfg) => (cfg.Shell = cmd.shell), `SHELL ${goQuote(cmd.shell)}`);
      case 'cmd': {
        const args = cmd.json ? cmd.args : cmd.args.length === 0 ? [] : [...shell, cmd.args[0]];
        sr.cmdSet = true;
        return meta((cfg) => (cfg.Cmd = args), `CMD ${goQuote(args)}`);
      }
      case 'entrypoint': {
        const args = cmd.json ? cmd.args : cmd.args.length === 0 ? [] : [...shell, cmd.args[0]];
        const resetCmd = !sr.cmdSet;
        return meta((cfg) => {
          cfg.Entrypoint = args;
          if (resetCmd) cfg.Cmd = null;
        }, `ENTRYPOINT ${goQuote(args)}`);
      }
      case 'healthcheck': {
        const hc: NonNullable<ContainerDefaults['Healthcheck']> & { StartInterval?: number } = { Test: cmd.test };
        if (cmd.interval !== undefined) hc.Interval = cmd.interval;
        if (cmd.timeout !== undefined) hc.Timeout = cmd.timeout;
        if (cmd.startPeriod !== undefined) hc.StartPeriod = cmd.startPeriod;
        if (cmd.startInterval !== undefined) hc.StartInterval = cmd.startInterval;
        if (cmd.retries !== undefined) hc.Retries = cmd.retries;
        return meta((cfg) => (cfg.Healthcheck = hc), `HEALTHCHECK ${JSON.stringify(hc)}`);
      }
      case 'onbuild':
        return meta((cfg) => (cfg.OnBuild = [...(cfg.OnBuild ?? []), cmd.expression]), `ONBUILD ${cmd.expression}`);
      case 'run':
        return this.run(sr, cmd, shell);
      case 'copy':
      case 'add':
        return this.copy(sr, cmd, env);
      case 'from':
        throw this.err(cmd, 'FROM inside a stage');
    }
    void stage;
  }

  /** A config-only step (docker's "#(nop)" commit): cached so rebuilds keep their IDs. */
  private async metaStep(sr: StageRun, comment: string, change: (cfg: ContainerDefaults, config: ImageConfig) => void): Promise<State> {
    const key = { kind: 'meta', parent: sr.state.id, comment };
    const hit = this.cached(key);
    if (hit) return hit;
    const config = structuredClone(sr.state.config);
    config.config = config.config ?? {};
    change(config.config, config);
    const created = new Date().toISOString();
    config.created = created;
    config.history = [...(config.history ?? []), { created, created_by: `/bin/sh -c #(nop)  ${comment}`, empty_layer: true }];
    const state = withId({ ...sr.state, config });
    this.b.buildCache.put(this.cacheKey(key), state);
    return state;
  }

  private cacheKey(key: object): string {
    return sha256Digest(JSON.stringify(key)).slice(7);
  }

  private cached(key: object): State | undefined {
    if (this.opts.noCache) return undefined;
    const hit = this.b.buildCache.get(this.cacheKey(key));
    if (!hit) return undefined;
    // Only a hit whose layers are all still here counts.
    if (!hit.chainIds.every((c) => this.b.d.snapshots.has(c)) || !hit.layers.every((l) => this.b.d.content.has(l.digest))) return undefined;
    this.o.stream(' ---> Using cache\n');
    return withId(hit);
  }

  /**
   * A step that writes a layer: mounts the stage's rootfs with a fresh upper dir, runs `work` in it,
   * commits the upper dir as the new top layer.
   */
  private async layerStep(
    sr: StageRun,
    key: object,
    createdBy: string,
    work: (rootfs: string, upper: string) => Promise<void>,
    cmd: { line: number },
    withInit = false,
  ): Promise<State> {
    const fullKey = { kind: 'layer', parent: sr.state.id, workdir: sr.workdirPending ? sr.state.config.config?.WorkingDir : undefined, ...key };
    const hit = this.cached(fullKey);
    if (hit) {
      sr.workdirPending = false;
      return hit;
    }
    const dir = await fsp.mkdtemp(join(this.tmp, 'step-'));
    const upper = join(dir, 'upper');
    const merged = join(dir, 'merged');
    const lowers = sr.state.chainIds.slice().reverse().map((c) => this.b.d.snapshots.diffPath(c));
    if (withInit) lowers.unshift(await this.b.initLayerDir());
    if (lowers.length === 0) {
      await fsp.mkdir(join(dir, 'empty'));
      lowers.push(join(dir, 'empty'));
    }
    const t0 = performance.now();
    const phases: Record<string, number> = {};
    const mark = (name: string) => (phases[name] = Math.round(performance.now() - t0));
    await mountOverlay({ lowerDirs: lowers, upperDir: upper, workDir: join(dir, 'work'), target: merged });
    mark('mounted');
    try {
      const wd = sr.state.config.config?.WorkingDir;
      if (sr.workdirPending && wd) await fsp.mkdir(await resolveInRootfs(merged, wd), { recursive: true, mode: 0o755 });
      await work(merged, upper);
      mark('worked');
    } finally {
      await unmount(merged);
      mark('unmounted');
    }
    const parentChain = sr.state.chainIds[sr.state.chainIds.length - 1];
    let layer;
    try {
      layer = await commitUpper(this.b.d, upper, parentChain, this.tmp, withInit);
    } catch (err) {
      throw this.err(cmd, `committing the layer failed: ${errorMessage(err)}`);
    }
    mark('committed');
    this.unsynced.push(...layer.unsynced);
    await fsp.rm(dir, { recursive: true, force: true });
    log.debug({ phases }, 'build step timings (ms)');
    sr.workdirPending = false;
    const config = structuredClone(sr.state.config);
    const created = new Date().toISOString();
    config.created = created;
    config.rootfs = { type: 'layers', diff_ids: [...config.rootfs.diff_ids, layer.diffId] };
    config.history = [...(config.history ?? []), { created, created_by: createdBy } as HistoryEntry];
    const state = withId({
      config,
      chainIds: [...sr.state.chainIds, layer.chainId],
      layers: [...sr.state.layers, layer.descriptor],
      sizes: [...sr.state.sizes, layer.size],
    });
    this.b.buildCache.put(this.cacheKey(fullKey), state);
    return state;
  }

  private async run(sr: StageRun, cmd: RunCommand, shell: string[]): Promise<State> {
    let args: string[];
    if (cmd.json) args = cmd.args;
    else {
      let line = cmd.args[0];
      if (cmd.heredocs.length > 0) {
        const only = cmd.heredocs.length === 1 && /^\s*\d*<<-?["']?[A-Za-z_][A-Za-z0-9_.-]*["']?\s*$/.test(line);
        line = only ? cmd.heredocs[0].content : `${line}\n${cmd.heredocs.map((h) => `${h.content}${h.name}`).join('\n')}\n`;
      }
      args = [...shell, line];
    }
    const buildArgs = this.argsInEffect(sr);
    const createdBy = `${buildArgs.length > 0 ? `|${buildArgs.length} ${buildArgs.join(' ')} ` : ''}${args.join(' ')}`;
    const env = this.lookup(sr);
    const mounts = await Promise.all(cmd.mounts.map((m) => this.parseMount(sr, cmd, m, env)));
    if (cmd.network && !['default', 'none'].includes(cmd.network)) throw this.err(cmd, `RUN --network=${cmd.network} is not supported`);
    if (cmd.security && cmd.security !== 'sandbox') throw this.err(cmd, `RUN --security=${cmd.security} is not supported`);
    const key = { run: args, buildArgs, mounts: mounts.map((m) => m.key) };
    return this.layerStep(
      sr,
      key,
      createdBy,
      async (rootfs, upper) => {
        const id = randomBytes(32).toString('hex');
        this.o.stream(` ---> Running in ${id.slice(0, 12)}\n`);
        const stubs: string[] = [];
        const ociMounts: OciMount[] = [];
        for (const m of mounts) {
          const target = await resolveInRootfs(rootfs, m.target);
          if (!fs.existsSync(target)) stubs.push(m.target);
          ociMounts.push({ destination: m.target, type: 'bind', source: await m.source(), options: ['rbind', m.readonly ? 'ro' : 'rw'] });
        }
        // Proxy build args reach RUN without an ARG line, and stay out of history and cache keys.
        const proxies = Object.entries(this.opts.buildArgs)
          .filter(([k, v]) => PREDEFINED_ARGS.has(k) && v !== null && !sr.args.has(k))
          .map(([k, v]) => `${k}=${v}`);
        const code = await this.runContainer(sr, id, rootfs, args, [...buildArgs, ...proxies], ociMounts, cmd.network === 'none');
        // Mount points runc had to create are not part of the layer (BuildKit removes them too).
        for (const s of stubs.reverse()) await fsp.rmdir(join(upper, s)).catch(() => undefined);
        this.o.stream(` ---> Removed intermediate container ${id.slice(0, 12)}\n`);
        if (code !== 0) throw this.err(cmd, `The command '${args.join(' ')}' returned a non-zero code: ${code}`, code);
      },
      cmd,
      true,
    );
  }

  private async parseMount(sr: StageRun, cmd: RunCommand, spec: string, env: (n: string) => string | undefined) {
    const fields = new Map<string, string>();
    for (const f of spec.split(',')) {
      const eq = f.indexOf('=');
      const k = (eq < 0 ? f : f.slice(0, eq)).trim().toLowerCase();
      const v = eq < 0 ? 'true' : this.expand(cmd, f.slice(eq + 1), env);
      fields.set(k === 'dst' || k === 'destination' ? 'target' : k === 'src' ? 'source' : k, v);
    }
    const type = fields.get('type') ?? 'bind';
    const target = fields.get('target');
    if (!target) throw this.err(cmd, `RUN --mount: target is required (${spec})`);
    const abs = posix.normalize(target.startsWith('/') ? target : posix.join(sr.state.config.config?.WorkingDir || '/', target));
    const ro = fields.get('readonly') ?? fields.get('ro');
    if (type === 'cache') {
      const id = fields.get('id') ?? abs;
      const dir = join(this.b.d.dataRoot, 'build', 'cache-mounts', sha256Digest(id).slice(7, 39));
      return {
        target: abs,
        readonly: ro === 'true',
        key: `cache:${id}:${abs}`,
        source: async () => {
          await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
          return dir;
        },
      };
    }
    if (type === 'tmpfs') throw this.err(cmd, 'RUN --mount=type=tmpfs is not supported yet');
    if (type !== 'bind') throw this.err(cmd, `RUN --mount=type=${type} is not supported`);
    const from = fields.get('from');
    const source = fields.get('source') ?? '/';
    let rootDir: string;
    let contentKey: string;
    if (from) {
      const mounted = await this.sourceRoot(cmd, from);
      rootDir = mounted;
      contentKey = `from:${await this.sourceStateId(from)}`;
    } else {
      rootDir = this.opts.contextDir;
      const items = await resolveSources(rootDir, [source], 'RUN --mount', true).catch((e: Error) => {
        throw this.err(cmd, e.message);
      });
      contentKey = `context:${await hashSources(items)}`;
    }
    const src = await resolveInRootfs(rootDir, source);
    if (!fs.existsSync(src)) throw this.err(cmd, `RUN --mount: source ${source} not found`);
    // Bind mounts are read-only unless rw is asked; a rw bind's writes never reach the layer here.
    return { target: abs, readonly: fields.get('rw') !== 'true' && fields.get('readwrite') !== 'true', key: `bind:${contentKey}:${source}:${abs}`, source: async () => src };
  }

  /** Runs one build step container through the default runtime and streams its output; resolves with its exit code. */
  private async runContainer(sr: StageRun, id: string, rootfs: string, args: string[], buildArgs: string[], mounts: OciMount[], noNetwork: boolean): Promise<number> {
    const cfg = sr.state.config.config ?? {};
    const user = await resolveUser(rootfs, cfg.User ?? '');
    const hostname = id.slice(0, 12);
    const bundle = join(this.tmp, `bundle-${hostname}`);
    await fsp.mkdir(bundle, { recursive: true });
    const hostsPath = join(bundle, 'hosts');
    const resolvPath = join(bundle, 'resolv.conf');
    const hostnamePath = join(bundle, 'hostname');
    await Promise.all([
      fsp.writeFile(hostsPath, `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${hostname}\n`),
      fsp.copyFile('/etc/resolv.conf', resolvPath).catch(() => fsp.writeFile(resolvPath, '')),
      fsp.writeFile(hostnamePath, `${hostname}\n`),
    ]);
    const envList = [...(cfg.Env ?? [])];
    for (const a of buildArgs) envList.push(a);
    // RUN --network=none keeps loopback only; otherwise the step is on the default bridge.
    const net = noNetwork || !this.b.d.stepNetwork ? undefined : await this.b.d.stepNetwork(id);
    try {
      return await this.runStepContainer(id, rootfs, args, envList, mounts, { hostname, hostsPath, resolvPath, hostnamePath, user, cfg, bundle, netnsPath: net?.netnsPath });
    } finally {
      await net?.release().catch(() => undefined);
    }
  }

  private async runStepContainer(
    id: string,
    rootfs: string,
    args: string[],
    envList: string[],
    mounts: OciMount[],
    step: { hostname: string; hostsPath: string; resolvPath: string; hostnamePath: string; user: Awaited<ReturnType<typeof resolveUser>>; cfg: { WorkingDir?: string }; bundle: string; netnsPath?: string },
  ): Promise<number> {
    const { hostname, hostsPath, resolvPath, hostnamePath, user, cfg, bundle } = step;
    const spec = buildSpec({
      rootfsPath: rootfs,
      args,
      env: containerEnv(envList, { hostname, tty: false, home: user.home }),
      cwd: cfg.WorkingDir || '/',
      user,
      hostname,
      terminal: false,
      cgroupsPath: `/berth/build-${id}`,
      mounts,
      etcHostsPath: hostsPath,
      resolvConfPath: resolvPath,
      hostnamePath,
      netnsPath: step.netnsPath,
    });
    await fsp.writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    const logFile = join(bundle, 'runtime.log');
    const rt = this.b.d.runtime;
    const root = ['--root', join(this.b.d.execRoot, `build-${rt.name}`)];
    // `run` needs the launcher (it creates cgroups); kill and delete do not look at the cgroup layout.
    const direct = (sub: string[]) => (rt.launcherOnlyFor ? execChecked(rt.execPath, [...rt.runtimeArgs, ...root, ...sub]) : execChecked(rt.command, [...rt.commandArgs, ...root, ...sub]));
    // Checked right before the spawn: an abort after this point reaches the container through onAbort.
    this.checkCancelled();
    const child = spawn(rt.command, [...rt.commandArgs, ...root, '--log', logFile, 'run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    const o = this.o;
    const forward = (c: Buffer) => o.stream(c.toString('utf8'));
    child.stdout!.on('data', forward);
    child.stderr!.on('data', forward);
    // A kill that lands before `crun run` has created the container finds nothing to kill: repeat
    // it until the step's runtime process has exited.
    const onAbort = () =>
      void (async () => {
        while (child.exitCode === null && child.signalCode === null) {
          await direct(['kill', id, 'KILL']).catch(() => undefined);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
    this.opts.signal?.addEventListener('abort', onAbort);
    const stop = this.ctx.stop;
    stop.addEventListener('abort', onAbort);
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, sig) => resolve(c ?? (sig ? 128 + 9 : 1)));
    }).finally(() => {
      this.opts.signal?.removeEventListener('abort', onAbort);
      stop.removeEventListener('abort', onAbort);
    });
    this.checkCancelled();
    if (code !== 0) {
      const runtimeLog = await fsp.readFile(logFile, 'utf8').catch(() => '');
      if (/level=error|"level":"error"/.test(runtimeLog)) {
        const msg = runcMessage(runtimeLog.split('\n').filter((l) => /error/.test(l)).join('\n')) || runtimeLog.trim();
        // The process never ran: the runtime's words, as docker reports an OCI runtime failure.
        const jsonMsg = [...runtimeLog.matchAll(/"msg":"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string).pop();
        this.o.stream(`OCI runtime error: ${jsonMsg ?? msg}\n`);
      }
      await direct(['delete', '--force', id]).catch(() => undefined);
    }
    return code;
  }

  // ---- COPY / ADD ---------------------------------------------------------------------------

  /**
   * A stage before the running one, once it is built (it may still be building in parallel);
   * undefined when it is not part of this build.
   */
  private async builtStage(index: number): Promise<StageRun | undefined> {
    const done = this.stages.get(index);
    if (done) return done;
    if (index >= this.ctx.index) return undefined;
    return this.scheduled.get(index);
  }

  private async sourceStateId(from: string): Promise<string> {
    const idx = this.stageRef(from, Number.MAX_SAFE_INTEGER);
    if (idx !== undefined) return (await this.builtStage(idx))?.state.id ?? from;
    return this.b.d.images.resolve(from)?.record.id ?? from;
  }

  /** A read-only view of a stage's (or image's) rootfs: the snapshot dir itself or an overlay. */
  private async sourceRoot(cmd: { line: number }, from: string): Promise<string> {
    const idx = this.stageRef(from, Number.MAX_SAFE_INTEGER);
    let state: State | undefined;
    if (idx !== undefined) state = (await this.builtStage(idx))?.state;
    if (!state) state = await this.imageState(cmd, from);
    const chains = state.chainIds;
    if (chains.length === 0) {
      const empty = await fsp.mkdtemp(join(this.tmp, 'empty-'));
      return empty;
    }
    if (chains.length === 1) return this.b.d.snapshots.diffPath(chains[0]);
    const target = await fsp.mkdtemp(join(this.tmp, 'src-'));
    const lowers = chains.slice().reverse().map((c) => this.b.d.snapshots.diffPath(c));
    await mountReadOnlyOverlay(lowers, target);
    this.ctx.mounts.push(target);
    return target;
  }

  /** Written by this build without an fsync: made durable in one batch before the image is recorded. */
  private readonly unsynced: string[] = [];

  private async releaseSources(mounts: string[]): Promise<void> {
    for (const m of mounts.splice(0)) await unmount(m).catch((err) => log.warn({ err, m }, 'unmount failed'));
  }

  private async copy(sr: StageRun, cmd: CopyCommand, env: (n: string) => string | undefined): Promise<State> {
    const what = cmd.kind.toUpperCase();
    try {
      return await this.copyInner(sr, cmd, env, what);
    } catch (err) {
      if (err instanceof CopyError) throw this.err(cmd, err.message);
      throw err;
    } finally {
      await this.releaseSources(this.ctx.mounts);
    }
  }

  private async copyInner(sr: StageRun, cmd: CopyCommand, env: (n: string) => string | undefined, what: string): Promise<State> {
    if (cmd.parents) throw this.err(cmd, `${what} --parents is not supported by berth yet`);
    if (cmd.exclude.length > 0) throw this.err(cmd, `${what} --exclude is not supported by berth yet`);
    const dest0 = this.expand(cmd, cmd.dest, env);
    const wd = sr.state.config.config?.WorkingDir || '/';
    const dest = dest0.startsWith('/') ? dest0 : posix.join(wd, dest0) + (dest0.endsWith('/') || dest0 === '.' ? '/' : '');
    const heredocs = new Map(cmd.heredocs.map((h) => [h.name, h]));
    const sources: string[] = [];
    const inline: Array<{ name: string; content: string }> = [];
    for (const s of cmd.sources) {
      const m = /^\d*<<-?(["']?)([A-Za-z_][A-Za-z0-9_.-]*)\1$/.exec(s);
      if (m && heredocs.has(m[2])) {
        const h = heredocs.get(m[2])!;
        inline.push({ name: h.name, content: h.expand ? this.expand(cmd, h.content.replace(/"/g, '\\"'), (n) => env(n)).replace(/\\"/g, '"') : h.content });
        continue;
      }
      sources.push(this.expand(cmd, s, env));
    }
    const from = cmd.from !== undefined ? this.expand(cmd, cmd.from, env) : undefined;
    const chmod = parseChmod(cmd.chmod !== undefined ? this.expand(cmd, cmd.chmod, env) : undefined);
    const chownSpec = cmd.chown !== undefined ? this.expand(cmd, cmd.chown, env) : undefined;
    const urls = sources.filter((s) => /^https?:\/\//.test(s));
    if (urls.length > 0 && cmd.kind === 'copy') throw this.err(cmd, 'COPY failed: source can\'t be a URL for COPY');
    const local = sources.filter((s) => !/^https?:\/\//.test(s));
    const root = from ? await this.sourceRoot(cmd, from) : this.opts.contextDir;
    const items = await resolveSources(root, local, what, !from);
    const downloads = await Promise.all(urls.map((u) => this.download(cmd, u)));
    if (cmd.checksum !== undefined) {
      const want = this.expand(cmd, cmd.checksum, env);
      if (urls.length !== 1 || local.length > 0) throw this.err(cmd, 'ADD --checksum needs exactly one http(s) source');
      if (!/^sha256:[a-f0-9]{64}$/.test(want)) throw this.err(cmd, `invalid checksum digest format: ${want}`);
      const got = sha256Digest(downloads[0].data);
      if (got !== want) throw this.err(cmd, `ADD failed: digest mismatch ${got}: expected ${want}`);
    }
    const count = items.length + inline.length + downloads.length;
    const destIsDir = dest.endsWith('/') || count > 1;
    if ((sources.length + inline.length > 1 || items.some((i) => i.fromGlob) && count > 1) && !dest.endsWith('/')) {
      throw this.err(cmd, `When using ${what} with more than one source file, the destination must be a directory and end with a /`);
    }
    const contentHash = from ? `${await this.sourceStateId(from)}:${await hashSources(items)}` : await hashSources(items);
    const dlHash = downloads.map((d) => sha256Digest(d.data).slice(7));
    const inlineHash = inline.map((i) => sha256Digest(i.content).slice(7));
    const key = { copy: what, sources, dest, from, chmod, chownSpec, contentHash, dlHash, inlineHash };
    const hash = sha256Digest(contentHash + dlHash.join() + inlineHash.join()).slice(7);
    const kindWord = count > 1 ? 'multi' : items[0]?.st.isDirectory() ? 'dir' : 'file';
    const createdBy = `/bin/sh -c #(nop) ${what} ${kindWord}:${hash} in ${dest} `;
    return this.layerStep(
      sr,
      key,
      createdBy,
      async (rootfs) => {
        let uid: number | undefined;
        let gid: number | undefined;
        if (chownSpec !== undefined) {
          const [u, g] = chownSpec.split(':');
          const resolved = await resolveUser(rootfs, u).catch((e: Error) => {
            throw this.err(cmd, `unable to convert uid/gid chown string to host mapping: ${e.message}`);
          });
          uid = resolved.uid;
          gid = g !== undefined ? (await resolveUser(rootfs, `${u}:${g}`).catch((e: Error) => {
            throw this.err(cmd, `unable to convert uid/gid chown string to host mapping: ${e.message}`);
          })).gid : /^\d+$/.test(u) ? uid : resolved.gid;
        }
        const o: CopyOptions = { rootfs, dest, destIsDir, uid, gid, preserveOwner: from !== undefined, chmod };
        for (const i of inline) await writeFileInto(o, i.name, i.content, 0o644);
        for (const d of downloads) await writeFileInto(o, d.name, d.data, 0o600, d.mtime);
        const archives: SourceItem[] = [];
        const plain: SourceItem[] = [];
        for (const it of items) {
          if (cmd.kind === 'add' && cmd.unpack !== false && it.st.isFile() && (await isArchive(it.abs))) archives.push(it);
          else plain.push(it);
        }
        await copyItems(plain, o);
        for (const a of archives) {
          const target = await resolveInRootfs(rootfs, dest);
          await fsp.mkdir(target, { recursive: true, mode: 0o755 });
          try {
            await applyLayer(fs.createReadStream(a.abs).pipe(decompressStream()), target);
          } catch (err) {
            throw this.err(cmd, `ADD failed: extracting ${a.rel}: ${errorMessage(err)}`);
          }
        }
      },
      cmd,
    );
  }

  private async download(cmd: { line: number }, url: string): Promise<{ name: string; data: Buffer; mtime?: Date }> {
    let res: Response;
    try {
      res = await fetch(url, { redirect: 'follow' });
    } catch (err) {
      throw this.err(cmd, `ADD failed: ${url}: ${errorMessage((err as { cause?: unknown }).cause ?? err)}`);
    }
    if (!res.ok) throw this.err(cmd, `ADD failed: ${url}: got HTTP status code ${res.status}`);
    const data = Buffer.from(await res.arrayBuffer());
    const lm = res.headers.get('last-modified');
    const path = new URL(url).pathname;
    const name = posix.basename(path) || 'index.html';
    return { name, data, mtime: lm ? new Date(lm) : undefined };
  }

  // ---- result ---------------------------------------------------------------------------------

  private async registerImage(state: State): Promise<string> {
    const config = structuredClone(state.config);
    if (Object.keys(this.opts.labels).length > 0) {
      config.config = { ...config.config, Labels: { ...(config.config?.Labels ?? {}), ...this.opts.labels } };
    }
    const configBytes = Buffer.from(JSON.stringify(config));
    const id = sha256Digest(configBytes);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: id, size: configBytes.length },
      layers: state.layers,
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const manifestDigest = sha256Digest(manifestBytes);
    const content = this.b.d.content;
    for (const [digest, bytes] of [[id, configBytes], [manifestDigest, manifestBytes]] as const) {
      if (content.has(digest)) continue;
      await content.writeBuffer(digest, bytes, { durable: false });
      this.unsynced.push(content.path(digest), content.blobsDir);
    }
    // This build's layers, blobs, config and manifest were written without an fsync each: they are
    // made durable together before the image record refers to them (a fully cached build wrote
    // nothing and syncs nothing).
    await makeDurable(this.unsynced.splice(0), () => this.b.d.snapshots.sync());
    const existing = this.b.d.images.resolve(id);
    this.b.d.images.add({
      id,
      repoDigests: existing?.record.repoDigests ?? [],
      manifestDigest,
      manifestMediaType: MediaType.ociManifest,
      chainIds: state.chainIds,
      diffIds: config.rootfs.diff_ids,
      size: state.sizes.reduce((a, b) => a + b, 0),
      created: config.created ?? new Date().toISOString(),
      addedAt: existing?.record.addedAt ?? Date.now(),
    });
    this.b.buildCache.touch(state);
    return id;
  }
}

function withId(s: CachedState): State {
  return { ...s, id: configId(s.config) };
}

/** EXPOSE's port syntax: 80, 80/udp, 8000-8002/tcp. */
function expandPort(p: string, bad: () => Error): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
  if (!m) throw bad();
  const proto = (m[3] ?? 'tcp').toLowerCase();
  const start = Number(m[1]);
  const end = m[2] ? Number(m[2]) : start;
  if (end < start || end > 65535) throw bad();
  const out: string[] = [];
  for (let i = start; i <= end; i++) out.push(`${i}/${proto}`);
  return out;
}

async function isArchive(path: string): Promise<boolean> {
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return true;
    if (bytesRead >= 4 && buf.readUInt32BE(0) === 0x28b52ffd) return true;
    return bytesRead >= 262 && buf.toString('latin1', 257, 262) === 'ustar';
  } finally {
    await fh.close();
  }
}

