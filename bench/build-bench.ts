// `npm run bench:build`: cold (--no-cache) and warm (fully cached) build of a small multi-stage
// Dockerfile with RUN and COPY steps, median of BENCH_BUILD_RUNS, through the berth CLI and through
// `DOCKER_BUILDKIT=0 docker build` against berthd, and against the engine DOCKER_HOST names, if any.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pushBusybox } from '../test/fixtures/images.js';
import { startRegistry } from '../test/fixtures/registry.js';
import { runCommand, TestDaemon } from '../test/e2e/harness.js';

const RUNS = Number(process.env.BENCH_BUILD_RUNS ?? 10);

const DOCKERFILE = `ARG BASE=busybox
FROM \${BASE} AS build
WORKDIR /src
COPY app.txt .
RUN cat app.txt > out.txt
FROM \${BASE}
COPY --from=build /src/out.txt /out.txt
RUN cat /out.txt
CMD ["cat", "/out.txt"]
`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timed(cmd: string, args: string[], env: Record<string, string>): Promise<number> {
  const t = process.hrtime.bigint();
  const r = await runCommand(cmd, args, { env });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return ms;
}

async function measure(cmd: string, base: string[], env: Record<string, string>): Promise<{ cold: number; warm: number }> {
  await timed(cmd, [...base], env); // warm-up, fills the cache
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    cold.push(await timed(cmd, [...base.slice(0, 1), '--no-cache', ...base.slice(1)], env));
    warm.push(await timed(cmd, base, env));
  }
  return { cold: median(cold), warm: median(warm) };
}

function row(name: string, berth: number, docker?: number): string {
  const ratio = docker ? `${(berth / docker).toFixed(2)}x of Docker's` : '-';
  return `${name.padEnd(46)} ${`${berth.toFixed(0)} ms`.padStart(9)} ${(docker ? `${docker.toFixed(0)} ms` : '-').padStart(9)}   ${ratio}`;
}

async function main(): Promise<void> {
  const registry = await startRegistry();
  const daemon = new TestDaemon({ mirrors: [registry.url], insecureRegistries: [registry.host] });
  const dir = mkdtempSync(join(tmpdir(), 'berth-build-bench-'));
  try {
    await pushBusybox(registry.host);
    writeFileSync(join(dir, 'Dockerfile'), DOCKERFILE);
    writeFileSync(join(dir, 'app.txt'), 'bench\n');
    await daemon.start();
    const pull = await daemon.berth(['pull', 'busybox']);
    if (pull.code !== 0) throw new Error(pull.stderr);
    const berthEnv = { BERTH_HOST: daemon.host };
    const dockerEnv = { DOCKER_HOST: daemon.host, DOCKER_BUILDKIT: '0', DOCKER_CONFIG: join(daemon.dir, 'docker-config') };
    const viaBerth = await measure(join(import.meta.dirname, '..', 'bin', 'berth'), ['build', '-q', '-t', 'bench-build', dir], berthEnv);
    const viaDocker = await measure('docker', ['build', '-q', '-t', 'bench-build', dir], dockerEnv);
    let ref: { cold: number; warm: number } | undefined;
    if (process.env.DOCKER_HOST) {
      const env = { DOCKER_HOST: process.env.DOCKER_HOST, DOCKER_BUILDKIT: '0' };
      const base = `${registry.host}/library/busybox:latest`;
      const p = await runCommand('docker', ['pull', base], { env });
      if (p.code !== 0) throw new Error(p.stderr);
      ref = await measure('docker', ['build', '-q', '--build-arg', `BASE=${base}`, '-t', 'bench-build', dir], env);
    }
    process.stdout.write(`${''.padEnd(46)} ${'berth'.padStart(9)} ${'Docker'.padStart(9)}\n`);
    process.stdout.write(`${row('cold build (--no-cache), berth CLI', viaBerth.cold, ref?.cold)}\n`);
    process.stdout.write(`${row('cold build (--no-cache), docker CLI', viaDocker.cold, ref?.cold)}\n`);
    process.stdout.write(`${row('fully cached build, berth CLI', viaBerth.warm, ref?.warm)}\n`);
    process.stdout.write(`${row('fully cached build, docker CLI', viaDocker.warm, ref?.warm)}\n`);
  } finally {
    await daemon.cleanup();
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
