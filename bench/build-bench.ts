// `npm run bench:build`: cold (--no-cache, base image present) and warm (fully cached) build of a
// small multi-stage Dockerfile with RUN and COPY steps, median of BENCH_BUILD_RUNS, through the
// berth CLI and through `DOCKER_BUILDKIT=0 docker build` against berthd, and the same docker
// command against the engine DOCKER_HOST names, if any (its classic builder; the base image is
// pulled into it from the bench's local registry first). Targets (issue 6): a cold build at most
// 0.5x Docker's time, a fully cached one at most 1.0x.
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

/** One line in bench.ts's layout: figure, berth, Docker, berth's time as a share of Docker's. */
function row(name: string, berth: number, docker: number | undefined, target: string): string {
  const d = docker === undefined ? '-' : `${docker.toFixed(1)} ms`;
  const ratio = docker ? `${(berth / docker).toFixed(2)}x of Docker's (target ${target})` : '-';
  return `${name.padEnd(40)} ${`${berth.toFixed(1)} ms`.padStart(14)} ${d.padStart(14)}   ${ratio}`;
}

async function main(): Promise<void> {
  const registry = await startRegistry();
  // berthd at its default log level (info), as users run it; the test default (debug) logs per step.
  const daemon = new TestDaemon({ mirrors: [registry.url], insecureRegistries: [registry.host], logLevel: 'info' });
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
    const lines = [
      '',
      `${'figure'.padEnd(40)} ${'berth'.padStart(14)} ${'docker'.padStart(14)}   ratio`,
      row('cold build (--no-cache), berth CLI', viaBerth.cold, ref?.cold, '<= 0.5x'),
      row('cold build (--no-cache), docker CLI', viaDocker.cold, ref?.cold, '<= 0.5x'),
      row('fully cached build, berth CLI', viaBerth.warm, ref?.warm, '<= 1.0x'),
      row('fully cached build, docker CLI', viaDocker.warm, ref?.warm, '<= 1.0x'),
      '',
      `runs: ${RUNS} cold and ${RUNS} cached builds each (medians); ${ref ? `Docker at ${process.env.DOCKER_HOST} (DOCKER_BUILDKIT=0)` : 'no DOCKER_HOST: berth only'}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
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
