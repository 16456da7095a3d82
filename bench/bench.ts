// `npm run bench`: berth's figures, and Docker's in the same run when DOCKER_HOST names an engine.
//   - container start latency: `run --rm busybox true`, median of 20, through the berth CLI and the docker CLI
//   - exec latency: `exec CONTAINER true` into a running busybox, median of 20, both CLIs and the bare Engine API
//   - cold pull throughput of a multi-layer image (~150 MB compressed) from a local registry
//   - push throughput of that image to an empty local registry (a fresh one per run)
//   - berthd's idle RSS
//   - fifty running containers (./fifty.ts): time to start them, `ps` latency (CLI and API), engine memory
//   - HTTP through a published port: GET / to a busybox httpd at 127.0.0.1:<published>, 16 clients
// Everything runs against loopback: a local registry and an isolated berthd in a temp dir.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pushBenchImage, pushBusybox } from '../test/fixtures/images.js';
import { startRegistry } from '../test/fixtures/registry.js';
import { REPO_ROOT, runCommand, TestDaemon } from '../test/e2e/harness.js';
import { berthPids, dockerPids, FIFTY, fiftyContainers, type FiftyFigures } from './fifty.js';
import { httpLoad, type LoadResult } from './http-load.js';
import { execApiMs } from './api-latency.js';

const HTTPD = ['sh', '-c', 'mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www'];

/** Start a published busybox httpd through `cli`, load it from the host, remove it. */
async function publishedHttp(cli: (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>, image: string): Promise<LoadResult> {
  const name = `bench-httpd-${process.pid}`;
  const run = await cli(['run', '-d', '--name', name, '-p', '127.0.0.1::80', image, ...HTTPD]);
  if (run.code !== 0) throw new Error(`httpd container: ${run.stderr}`);
  try {
    const port = Number((await cli(['port', name, '80'])).stdout.trim().split(':').pop());
    for (let i = 0; i < 50; i++) {
      if (await httpLoad('127.0.0.1', port, { total: 1, concurrency: 1 }).then((r) => r.errors === 0, () => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return await httpLoad('127.0.0.1', port, { total: Number(process.env.BENCH_HTTP_REQUESTS ?? 3000), concurrency: 16 });
  } finally {
    await cli(['rm', '-f', name]);
  }
}

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
/** BENCH_ONLY=pull: only the cold pull figure (berth's, and Docker's with DOCKER_HOST), for A/B runs. */
const ONLY = process.env.BENCH_ONLY;
if (ONLY !== undefined && ONLY !== 'pull') throw new Error(`BENCH_ONLY=${ONLY}: only "pull" is supported`);
const PULL_RUNS = Number(process.env.BENCH_PULL_RUNS ?? 3);
const PUSH_RUNS = Number(process.env.BENCH_PUSH_RUNS ?? 3);

/** Median MB/s of `docker push` of `src` (already present) to a fresh, empty registry each run. */
async function pushThroughput(docker: (args: string[]) => Promise<{ code: number; stderr: string }>, src: string, bytes: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < PUSH_RUNS; i++) {
    const target = await startRegistry();
    try {
      const dst = `${target.host}/bench/pushed:latest`;
      await timeIt(() => docker(['tag', src, dst]));
      times.push(await timeIt(() => docker(['push', '-q', dst])));
      await docker(['rmi', dst]);
    } finally {
      await target.stop();
    }
  }
  return bytes / 1e6 / (median(times) / 1000);
}

/** Median MB/s of cold pulls of `ref` (removed before each run) through `cli`. */
async function pullThroughput(cli: (args: string[]) => Promise<{ code: number; stderr: string }>, ref: string, bytes: number): Promise<number> {
  const pulls: number[] = [];
  for (let i = 0; i < PULL_RUNS; i++) {
    await cli(['rmi', '-f', ref]);
    pulls.push(await timeIt(() => cli(['pull', '-q', ref])));
  }
  process.stderr.write(`pull runs (ms): ${pulls.map((ms) => ms.toFixed(0)).join(' ')}\n`);
  return bytes / 1e6 / (median(pulls) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timeIt(fn: () => Promise<{ code: number; stderr: string }>): Promise<number> {
  const t = process.hrtime.bigint();
  const r = await fn();
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.code !== 0) throw new Error(`benchmark command failed (${r.code}): ${r.stderr}`);
  return ms;
}

async function startLatency(run: () => Promise<{ code: number; stderr: string }>): Promise<number> {
  await run(); // warm-up: page cache, first-run costs
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await timeIt(run));
  return median(times);
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

function dockerEnginePids(): number[] {
  const out = spawnSync('pgrep', ['-x', 'dockerd|containerd'], { encoding: 'utf8' }).stdout ?? '';
  return out.split('\n').filter(Boolean).map(Number);
}

interface Figures {
  startBerthCli?: number;
  startDockerCli: number;
  execBerthCli?: number;
  execDockerCli?: number;
  execApi?: number;
  pullMBps: number;
  pushMBps?: number;
  idleRssMiB: number;
  fifty?: FiftyFigures;
  /** docker save / docker load of the bench image, archive MB per second. */
  saveMBps?: number;
  loadMBps?: number;
  http?: LoadResult;
}

/** save to a file, rmi, load it back: the archive's MB/s each way (medians of PULL_RUNS). */
async function saveLoad(run: (args: string[]) => Promise<{ code: number; stderr: string }>, ref: string, file: string): Promise<{ save: number; load: number }> {
  const saves: number[] = [];
  const loads: number[] = [];
  for (let i = 0; i < PULL_RUNS; i++) {
    rmSync(file, { force: true });
    saves.push(await timeIt(() => run(['save', '-o', file, ref])));
    await run(['rmi', '-f', ref]);
    loads.push(await timeIt(() => run(['load', '-q', '-i', file])));
  }
  const mb = statSync(file).size / 1e6;
  rmSync(file, { force: true });
  return { save: mb / (median(saves) / 1000), load: mb / (median(loads) / 1000) };
}

function row(name: string, berth: number | undefined, docker: number | undefined, unit: string, lowerIsBetter: boolean): string {
  const b = berth === undefined ? '-' : berth.toFixed(1);
  const d = docker === undefined ? '-' : docker.toFixed(1);
  let ratio = '-';
  if (berth !== undefined && docker !== undefined && berth > 0 && docker > 0) {
    ratio = lowerIsBetter ? `${(berth / docker).toFixed(2)}x of Docker's` : `${(berth / docker).toFixed(2)}x Docker's`;
  }
  return `${name.padEnd(40)} ${(b + ' ' + unit).padStart(14)} ${(d + ' ' + unit).padStart(14)}   ${ratio}`;
}

async function main(): Promise<void> {
  const registry = await startRegistry();
  // berthd at its default log level (info), as users run it and as the Docker reference runs.
  const daemon = new TestDaemon({ mirrors: [registry.url], insecureRegistries: [registry.host], logLevel: null });
  try {
    process.stderr.write('preparing images (the bench image is built once and cached)...\n');
    await pushBusybox(registry.host);
    const bench = await pushBenchImage(registry.host, 'bench/multilayer', 'latest', join(REPO_ROOT, '.tmp', 'bench-cache'));
    const benchRef = `${registry.host}/bench/multilayer:latest`;
    const manifest = (await (
      await fetch(`${registry.url}/v2/bench/multilayer/manifests/${bench.digest}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
      })
    ).json()) as { layers: Array<{ size: number }> };
    const compressedBytes = manifest.layers.reduce((sum, l) => sum + l.size, 0);
    await daemon.start();

    const berth: Figures = { startDockerCli: 0, pullMBps: 0, idleRssMiB: 0 };
    if (ONLY === 'pull') {
      berth.pullMBps = await pullThroughput((args) => daemon.docker(args), benchRef, compressedBytes);
      let dockerMBps: number | undefined;
      if (process.env.DOCKER_HOST) {
        const env = { DOCKER_HOST: process.env.DOCKER_HOST };
        dockerMBps = await pullThroughput((args) => runCommand('docker', args, { env }), benchRef, compressedBytes);
        await runCommand('docker', ['rmi', '-f', benchRef], { env });
      }
      process.stdout.write(
        `\n${row(`cold pull, ${(compressedBytes / 1e6).toFixed(0)} MB compressed (median)`, berth.pullMBps, dockerMBps, 'MB/s', false)}\n` +
          `runs: ${PULL_RUNS} pulls; ${dockerMBps === undefined ? 'no DOCKER_HOST: berth only' : `Docker at ${process.env.DOCKER_HOST}`}\n`,
      );
      return;
    }
    await daemon.docker(['pull', 'busybox']);
    berth.idleRssMiB = rssMiB(daemon.pid!);
    berth.startBerthCli = await startLatency(() => daemon.berth(['run', '--rm', 'busybox', 'true']));
    berth.startDockerCli = await startLatency(() => daemon.docker(['run', '--rm', 'busybox', 'true']));
    const execTarget = await daemon.docker(['run', '-d', '--name', 'bench-exec', 'busybox', 'sleep', '3600']);
    if (execTarget.code !== 0) throw new Error(`cannot start the exec target: ${execTarget.stderr}`);
    berth.execBerthCli = await startLatency(() => daemon.berth(['exec', 'bench-exec', 'true']));
    berth.execDockerCli = await startLatency(() => daemon.docker(['exec', 'bench-exec', 'true']));
    berth.execApi = await execApiMs(daemon.host, 'bench-exec', RUNS);
    await daemon.docker(['rm', '-f', 'bench-exec']);
    berth.pullMBps = await pullThroughput((args) => daemon.docker(args), benchRef, compressedBytes);
    berth.pushMBps = await pushThroughput((args) => daemon.docker(args), benchRef, compressedBytes);
    berth.fifty = await fiftyContainers((args) => daemon.docker(args), 'busybox', () => berthPids(daemon.pid!, daemon.execRoot), daemon.host);
    const archive = join(REPO_ROOT, '.tmp', 'bench-save.tar');
    const berthSL = await saveLoad((args) => daemon.docker(args), benchRef, archive);
    berth.saveMBps = berthSL.save;
    berth.loadMBps = berthSL.load;
    berth.http = await publishedHttp((args) => daemon.docker(args), `${registry.host}/library/busybox:latest`);

    let docker: Figures | undefined;
    if (process.env.DOCKER_HOST) {
      const env = { DOCKER_HOST: process.env.DOCKER_HOST };
      const dockerCmd = (args: string[]) => runCommand('docker', args, { env });
      const busybox = `${registry.host}/library/busybox:latest`;
      const pulled = await dockerCmd(['pull', '-q', busybox]);
      if (pulled.code !== 0) throw new Error(`the Docker engine at ${process.env.DOCKER_HOST} cannot pull from ${registry.host}: ${pulled.stderr}`);
      docker = { startDockerCli: 0, pullMBps: 0, idleRssMiB: 0 };
      docker.startDockerCli = await startLatency(() => dockerCmd(['run', '--rm', busybox, 'true']));
      const execTarget = await dockerCmd(['run', '-d', '--name', 'berth-bench-exec', busybox, 'sleep', '3600']);
      if (execTarget.code !== 0) throw new Error(`cannot start the exec target on Docker: ${execTarget.stderr}`);
      try {
        docker.execDockerCli = await startLatency(() => dockerCmd(['exec', 'berth-bench-exec', 'true']));
        docker.execApi = await execApiMs(process.env.DOCKER_HOST, 'berth-bench-exec', RUNS);
      } finally {
        await dockerCmd(['rm', '-f', 'berth-bench-exec']);
      }
      docker.pullMBps = await pullThroughput(dockerCmd, benchRef, compressedBytes);
      docker.pushMBps = await pushThroughput(dockerCmd, benchRef, compressedBytes);
      const dockerSL = await saveLoad(dockerCmd, benchRef, archive);
      docker.saveMBps = dockerSL.save;
      docker.loadMBps = dockerSL.load;
      await dockerCmd(['rmi', '-f', benchRef]);
      docker.idleRssMiB = dockerEnginePids().reduce((sum, pid) => sum + rssMiB(pid), 0);
      docker.fifty = await fiftyContainers(dockerCmd, busybox, dockerPids, process.env.DOCKER_HOST);
      docker.http = await publishedHttp(dockerCmd, busybox);
    }

    const lines = [
      '',
      `${'figure'.padEnd(40)} ${'berth'.padStart(14)} ${'docker'.padStart(14)}   ratio`,
      row('start latency, berth CLI (median)', berth.startBerthCli, docker?.startDockerCli, 'ms', true),
      row('start latency, docker CLI (median)', berth.startDockerCli, docker?.startDockerCli, 'ms', true),
      row('exec latency, berth CLI (median)', berth.execBerthCli, docker?.execDockerCli, 'ms', true),
      row('exec latency, docker CLI (median)', berth.execDockerCli, docker?.execDockerCli, 'ms', true),
      row('exec latency, Engine API (median)', berth.execApi, docker?.execApi, 'ms', true),
      row(`cold pull, ${(compressedBytes / 1e6).toFixed(0)} MB compressed (median)`, berth.pullMBps, docker?.pullMBps, 'MB/s', false),
      row(`push, ${(compressedBytes / 1e6).toFixed(0)} MB compressed (median)`, berth.pushMBps, docker?.pushMBps, 'MB/s', false),
      row('save of the bench image (median)', berth.saveMBps, docker?.saveMBps, 'MB/s', false),
      row('load of the bench image (median)', berth.loadMBps, docker?.loadMBps, 'MB/s', false),
      row('daemon idle RSS (dockerd+containerd)', berth.idleRssMiB, docker?.idleRssMiB, 'MiB', true),
      row(`start ${FIFTY} detached, docker CLI (total)`, berth.fifty?.startAllMs, docker?.fifty?.startAllMs, 'ms', true),
      row(`ps with ${FIFTY} running, docker CLI (median)`, berth.fifty?.psMs, docker?.fifty?.psMs, 'ms', true),
      row(`ps with ${FIFTY} running, Engine API (median)`, berth.fifty?.psApiMs, docker?.fifty?.psApiMs, 'ms', true),
      row(`RSS with ${FIFTY} running (engine+shims)`, berth.fifty?.rssMiB, docker?.fifty?.rssMiB, 'MiB', true),
      row(`PSS with ${FIFTY} running (engine+shims)`, berth.fifty?.pssMiB, docker?.fifty?.pssMiB, 'MiB', true),
      row('HTTP via published port, 16 clients', berth.http?.rps, docker?.http?.rps, 'req/s', false),
      row('HTTP latency median', berth.http?.p50, docker?.http?.p50, 'ms', true),
      row('HTTP latency p99', berth.http?.p99, docker?.http?.p99, 'ms', true),
      '',
      `runs: ${RUNS} starts and execs, ${PULL_RUNS} pulls, ${PUSH_RUNS} pushes; ${docker ? `Docker at ${process.env.DOCKER_HOST}` : 'no DOCKER_HOST: berth only'}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await daemon.cleanup();
    await registry.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
