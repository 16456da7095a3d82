// berth build and `DOCKER_BUILDKIT=0 docker build` against berthd: multi-stage Dockerfiles using
// every instruction, the cache, .dockerignore, and bad input.
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusybox } from '../fixtures/images.js';
import { runCommand, startStack, type TestDaemon } from './harness.js';

function context(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-build-ctx-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

describe('build', () => {
  let daemon: TestDaemon;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  const dirs: string[] = [];
  const ctx = (files: Record<string, string>) => {
    const d = context(files);
    dirs.push(d);
    return d;
  };
  const dockerBuild = (args: string[], input?: string) =>
    runCommand('docker', ['build', ...args], { input, env: { DOCKER_HOST: daemon.host, DOCKER_BUILDKIT: '0', DOCKER_CONFIG: join(daemon.dir, 'docker-config') } });

  before(async () => {
    stack = await startStack({ mirror: true, seed: (host) => pushBusybox(host) });
    ({ daemon } = stack);
  });

  after(async () => {
    await stack?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('a multi-stage Dockerfile with every instruction, through the berth CLI', async () => {
    const dir = ctx({
      Dockerfile: [
        '# syntax=docker/dockerfile:1',
        'ARG BASE=busybox',
        'FROM ${BASE} AS builder',
        'ARG GREETING=hello',
        'WORKDIR /src',
        'COPY app.txt ./',
        'RUN echo "$GREETING from build" > built.txt && cat app.txt >> built.txt',
        'RUN <<EOF',
        'echo heredoc > /src/heredoc.txt',
        'EOF',
        '',
        'FROM busybox',
        'LABEL org.example.name="demo app" version=1',
        'ENV APP_HOME=/app PATH=/app/bin:$PATH',
        'WORKDIR $APP_HOME',
        'COPY --from=builder /src/built.txt /src/heredoc.txt ./',
        'COPY --chown=1000:1000 --chmod=750 app.txt owned.txt',
        'COPY <<EOF ${APP_HOME}/inline.txt',
        'home is $APP_HOME',
        'EOF',
        'ADD files.tar.gz /unpacked/',
        'USER 1000',
        'EXPOSE 8080 9000-9001/udp',
        'VOLUME /data',
        'STOPSIGNAL SIGQUIT',
        'HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD ["true"]',
        'SHELL ["/bin/sh", "-c"]',
        'ONBUILD RUN echo triggered',
        'ENTRYPOINT ["/bin/cat"]',
        'CMD ["built.txt"]',
        '',
      ].join('\n'),
      'app.txt': 'app content\n',
    });
    // A gzip tar for ADD to unpack.
    const tarDir = ctx({ 'inner/a.txt': 'from the archive\n' });
    const tar = await runCommand('tar', ['-czf', join(dir, 'files.tar.gz'), '-C', tarDir, 'inner']);
    assert.equal(tar.code, 0, tar.stderr);

    const r = await daemon.berth(['build', '-t', 'demo:1', '--build-arg', 'GREETING=hi', dir]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^Sending build context to Docker daemon {2}\S+$/m);
    assert.match(r.stdout, /^Step 1\/\d+ : FROM \$\{BASE\} AS builder$/m);
    assert.match(r.stdout, /^ ---> Running in [0-9a-f]{12}$/m);
    assert.match(r.stdout, /^Successfully built [0-9a-f]{12}$/m);
    assert.match(r.stdout, /^Successfully tagged demo:1$/m);

    const run = await daemon.berth(['run', '--rm', 'demo:1']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'hi from build\napp content\n');
    const files = await daemon.berth(['run', '--rm', '--entrypoint', 'sh', 'demo:1', '-c', 'cat heredoc.txt inline.txt /unpacked/inner/a.txt; stat -c "%u:%g %a" owned.txt; pwd']);
    assert.equal(files.code, 0, files.stderr);
    assert.equal(files.stdout, 'heredoc\nhome is /app\nfrom the archive\n1000:1000 750\n/app\n');

    const inspect = await daemon.docker(['image', 'inspect', 'demo:1']);
    assert.equal(inspect.code, 0, inspect.stderr);
    const [img] = JSON.parse(inspect.stdout);
    const c = img.Config;
    assert.deepEqual(c.Entrypoint, ['/bin/cat']);
    assert.deepEqual(c.Cmd, ['built.txt']);
    assert.equal(c.WorkingDir, '/app');
    assert.equal(c.User, '1000');
    assert.deepEqual(c.Labels, { 'org.example.name': 'demo app', version: '1' });
    assert.ok(c.Env.includes('APP_HOME=/app'));
    assert.ok(c.Env.some((e: string) => e.startsWith('PATH=/app/bin:/usr/local/sbin')));
    assert.deepEqual(Object.keys(c.ExposedPorts).sort(), ['8080/tcp', '9000/udp', '9001/udp']);
    assert.deepEqual(c.Volumes, { '/data': {} });
    assert.equal(c.StopSignal, 'SIGQUIT');
    assert.deepEqual(c.Healthcheck, { Test: ['CMD', 'true'], Interval: 30e9, Timeout: 5e9, Retries: 2 });
    assert.deepEqual(c.OnBuild, ['RUN echo triggered']);
    assert.ok(!c.Env.some((e: string) => e.startsWith('GREETING')), 'ARG values are not in the image env');

    const history = await daemon.docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'demo:1']);
    if (history.code === 0) {
      assert.match(history.stdout, /#\(nop\) {2}CMD \["built.txt"\]/);
      assert.match(history.stdout, /COPY file:[0-9a-f]{64} in \/app\/owned.txt/);
    }
  });
});
