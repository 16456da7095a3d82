// berth build and `DOCKER_BUILDKIT=0 docker build` against berthd: multi-stage Dockerfiles using
// every instruction, the cache, .dockerignore, and bad input.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

  test('DOCKER_BUILDKIT=0 docker build: the classic stream, tags, history', async () => {
    const dir = ctx({
      Dockerfile: 'FROM busybox\nRUN echo step-output && echo data > /data.txt\nCOPY hello.txt /\nCMD ["cat", "/hello.txt"]\n',
      'hello.txt': 'hello from docker build\n',
    });
    const r = await dockerBuild(['-t', 'viadocker:latest', '-t', 'viadocker:v2', dir]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^Step 1\/4 : FROM busybox$/m);
    assert.match(r.stdout, /^Step 2\/4 : RUN echo step-output && echo data > \/data.txt$/m);
    assert.match(r.stdout, /^step-output$/m);
    assert.match(r.stdout, /^Step 4\/4 : CMD \["cat", "\/hello.txt"\]$/m);
    assert.match(r.stdout, /^Successfully tagged viadocker:latest$/m);
    assert.match(r.stdout, /^Successfully tagged viadocker:v2$/m);
    const run = await daemon.docker(['run', '--rm', 'viadocker:v2']);
    assert.equal(run.stdout, 'hello from docker build\n');
    const history = await daemon.docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Size}}', 'viadocker']);
    assert.equal(history.code, 0, history.stderr);
    const lines = history.stdout.trim().split('\n');
    assert.match(lines[0], /^\/bin\/sh -c #\(nop\) {2}CMD \["cat" "\/hello.txt"\]\|0B$/);
    assert.match(lines[1], /^\/bin\/sh -c #\(nop\) COPY file:[0-9a-f]{64} in \/ \|24B$/);
    assert.match(lines[2], /^\/bin\/sh -c echo step-output && echo data > \/data.txt\|5B$/);
    // -q prints only the ID; --iidfile writes it.
    const iid = join(dir, 'iid');
    const q = await dockerBuild(['-q', '--iidfile', iid, dir]);
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
    assert.equal(readFileSync(iid, 'utf8').trim(), q.stdout.trim());
  });

  test('cache: unchanged steps are reused, a changed file busts the cache from its COPY on', async () => {
    const files = {
      Dockerfile: 'FROM busybox\nENV A=1\nRUN echo first > /first\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nCOPY b.txt /b.txt\n',
      'a.txt': 'one\n',
      'b.txt': 'b\n',
    };
    const dir = ctx(files);
    const first = await daemon.berth(['build', '-t', 'cached', dir]);
    assert.equal(first.code, 0, first.stderr + first.stdout);
    assert.doesNotMatch(first.stdout, /Using cache/);
    const id1 = /Successfully built ([0-9a-f]{12})/.exec(first.stdout)![1];
    const snapshotsBefore = (await daemon.api('GET', '/images/json')).body.length;

    const second = await daemon.berth(['build', '-t', 'cached', dir]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal((second.stdout.match(/ ---> Using cache/g) ?? []).length, 5);
    assert.doesNotMatch(second.stdout, /Running in/);
    assert.equal(/Successfully built ([0-9a-f]{12})/.exec(second.stdout)![1], id1, 'an identical build gives the same image');
    assert.equal((await daemon.api('GET', '/images/json')).body.length, snapshotsBefore);

    writeFileSync(join(dir, 'a.txt'), 'two\n');
    const third = await daemon.berth(['build', '-t', 'cached', dir]);
    assert.equal(third.code, 0, third.stderr);
    const steps = third.stdout.split(/^Step /m).slice(1);
    assert.match(steps[1], /Using cache/);
    assert.match(steps[2], /Using cache/);
    assert.doesNotMatch(steps[3], /Using cache/, 'the changed COPY runs');
    assert.doesNotMatch(steps[4], /Using cache/);
    assert.doesNotMatch(steps[5], /Using cache/);
    const out = await daemon.berth(['run', '--rm', 'cached', 'cat', '/copy']);
    assert.equal(out.stdout, 'two\n');

    // A build arg in effect is part of a RUN's key; --no-cache runs everything.
    const nc = await daemon.berth(['build', '--no-cache', '-t', 'cached', dir]);
    assert.equal(nc.code, 0, nc.stderr);
    assert.doesNotMatch(nc.stdout, /Using cache/);
  });

  test('.dockerignore: patterns, ** and ! exceptions decide what COPY sees', async () => {
    const dir = ctx({
      Dockerfile: 'FROM busybox\nCOPY . /ctx/\nRUN cd /ctx && find . -type f | sort\n',
      '.dockerignore': '# comment\n*.log\n**/secret*\nbuild/\n!build/keep.txt\n',
      'app.js': 'x',
      'debug.log': 'x',
      'nested/deeper/secret.key': 'x',
      'nested/ok.txt': 'x',
      'build/out.o': 'x',
      'build/keep.txt': 'x',
    });
    const r = await daemon.berth(['build', '-t', 'ignored', dir]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const listed = r.stdout.split('\n').filter((l) => l.startsWith('./'));
    assert.deepEqual(listed, ['./.dockerignore', './Dockerfile', './app.js', './build/keep.txt', './nested/ok.txt']);
    const viaDocker = await dockerBuild(['--no-cache', '-t', 'ignored2', dir]);
    assert.equal(viaDocker.code, 0, viaDocker.stderr);
    assert.deepEqual(viaDocker.stdout.split('\n').filter((l) => l.startsWith('./')).filter((l) => l !== './.dockerignore' && l !== './Dockerfile'), ['./app.js', './build/keep.txt', './nested/ok.txt']);
  });

  test('--target builds only the stages it needs; ARG scope per stage; ONBUILD triggers run', async () => {
    const dir = ctx({
      Dockerfile: [
        'ARG V=meta',
        'FROM busybox AS base',
        'ARG V',
        'RUN echo "base sees $V" > /v',
        'FROM busybox AS broken',
        'RUN exit 7',
        'FROM base AS final',
        'RUN echo "final sees [$V]" >> /v',
        'ONBUILD RUN echo child > /child',
        '',
      ].join('\n'),
    });
    const r = await daemon.berth(['build', '--target', 'final', '-t', 'parent', dir]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^Step 1\/6 : FROM busybox AS base$/m);
    assert.doesNotMatch(r.stdout, /exit 7/, 'the broken stage is not needed and not built');
    const v = await daemon.berth(['run', '--rm', 'parent', 'cat', '/v']);
    assert.equal(v.stdout, 'base sees meta\nfinal sees []\n');
    const child = ctx({ Dockerfile: 'FROM parent\nRUN cat /child\n' });
    const c = await daemon.berth(['build', '-t', 'child', child]);
    assert.equal(c.code, 0, c.stderr + c.stdout);
    assert.match(c.stdout, /# Executing 1 build trigger/);
    assert.match(c.stdout, /^child$/m);
    const bad = await daemon.berth(['build', '--target', 'nope', dir]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /failed to reach build target nope in Dockerfile/);
  });

  test('independent stages build in parallel; the stream still reads in Step order; a failing stage stops the build', async () => {
    // Stage a waits for a file that stage b's RUN writes into a shared cache mount: built one
    // after the other, a would give up (exit 9) before b ever ran.
    const sync = `sync-${process.pid}-${Date.now()}`;
    const dockerfile = [
      'FROM busybox AS a',
      `RUN --mount=type=cache,target=/c,id=${sync} i=0; while [ ! -e /c/b-started ]; do sleep 0.1; i=$((i+1)); [ $i -gt 150 ] && exit 9; done; echo a > /a`,
      'FROM busybox AS b',
      `RUN --mount=type=cache,target=/c,id=${sync} touch /c/b-started && echo b > /b`,
      'FROM busybox',
      'COPY --from=a /a /a',
      'COPY --from=b /b /b',
      'CMD ["cat", "/a", "/b"]',
      '',
    ].join('\n');
    const dir = ctx({ Dockerfile: dockerfile });
    const r = await dockerBuild(['-t', 'parallel-stages', dir]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const steps = [...r.stdout.matchAll(/^Step (\d+)\/(\d+) : (.*)$/gm)];
    assert.deepEqual(steps.map((m) => Number(m[1])), [1, 2, 3, 4, 5, 6, 7, 8], 'every Step once, in order');
    assert.ok(steps.every((m) => m[2] === '8'));
    assert.deepEqual(steps.map((m) => m[3]), dockerfile.trim().split('\n'));
    // Each step's lines stay under its own Step header: stage a's RUN container under step 2.
    const blocks = r.stdout.split(/^Step /m).slice(1);
    assert.match(blocks[1], /^2\/8 : RUN[^]* ---> Running in [0-9a-f]{12}\n ---> Removed intermediate container [0-9a-f]{12}\n ---> [0-9a-f]{12}\n$/);
    assert.match(blocks[3], /^4\/8 : RUN[^]* ---> Running in [0-9a-f]{12}\n ---> Removed intermediate container [0-9a-f]{12}\n ---> [0-9a-f]{12}\n$/);
    const out = await daemon.docker(['run', '--rm', 'parallel-stages']);
    assert.equal(out.stdout, 'a\nb\n');
    const history = await daemon.docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'parallel-stages']);
    assert.match(history.stdout.split('\n').slice(0, 3).join('\n'), /CMD[^]*COPY file:[0-9a-f]+ in \/b [^]*COPY file:[0-9a-f]+ in \/a /);

    // Fully cached the second time, same image.
    const again = await dockerBuild(['-t', 'parallel-stages', dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((again.stdout.match(/ ---> Using cache/g) ?? []).length, 5);
    assert.equal(/Successfully built ([0-9a-f]{12})/.exec(again.stdout)![1], /Successfully built ([0-9a-f]{12})/.exec(r.stdout)![1]);

    // The later stage fails while the earlier one still runs: the earlier one's steps are all shown
    // first, then the failure, with its exit code; nothing is tagged.
    const lateFail = ctx({
      Dockerfile: 'FROM busybox AS slow\nRUN sleep 1; echo slow-done\nFROM busybox AS bad\nRUN exit 4\nFROM busybox\nCOPY --from=slow /etc/passwd /s\nCOPY --from=bad /etc/passwd /b\n',
    });
    let f = await dockerBuild(['-t', 'parallel-fails', lateFail]);
    assert.equal(f.code, 4, f.stderr + f.stdout);
    assert.match(f.stderr, /The command '\/bin\/sh -c exit 4' returned a non-zero code: 4/);
    assert.match(f.stdout, /Step 2\/7 : RUN sleep 1; echo slow-done\n ---> Running in [0-9a-f]{12}\nslow-done\n ---> Removed intermediate container [0-9a-f]{12}\n ---> [0-9a-f]{12}\nStep 3\/7 : FROM busybox AS bad\n/);
    assert.doesNotMatch(f.stdout, /Step 5\/7|Successfully/);
    // The earlier stage fails: the later one is stopped and never shown.
    const earlyFail = ctx({
      Dockerfile: 'FROM busybox AS bad\nRUN exit 6\nFROM busybox AS slow\nRUN sleep 30\nFROM busybox\nCOPY --from=bad /etc/passwd /b\nCOPY --from=slow /etc/passwd /s\n',
    });
    const t0 = Date.now();
    f = await daemon.berth(['build', '-t', 'parallel-fails', earlyFail]);
    assert.equal(f.code, 6, f.stderr + f.stdout);
    assert.doesNotMatch(f.stdout, /Step 3\/7|sleep 30/);
    assert.ok(Date.now() - t0 < 25_000, 'the stopped stage\'s RUN was killed, not waited for');
    assert.equal((await daemon.api('GET', '/images/parallel-fails/json')).status, 404);
    const mounts = readFileSync('/proc/self/mounts', 'utf8');
    assert.ok(!mounts.includes(join(daemon.dataRoot, 'build')), 'no build mounts left');
  });

  test('bad input: syntax error, unknown instruction, missing file, outside the context, failing RUN', async () => {
    const syntax = ctx({ Dockerfile: 'FROM busybox\nENV A=1 B\n' });
    let r = await daemon.berth(['build', syntax]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Dockerfile:2: .*can't find = in "B"/);

    const unknown = ctx({ Dockerfile: 'FROM busybox\n\nFROB x\n' });
    r = await dockerBuild([unknown]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Dockerfile:3: unknown instruction: FROB/);

    const missing = ctx({ Dockerfile: 'FROM busybox\nCOPY nothere.txt /\n' });
    r = await daemon.berth(['build', missing]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Dockerfile:2: COPY failed: file not found in build context or excluded by \.dockerignore: stat nothere\.txt: file does not exist/);

    const outside = ctx({ Dockerfile: 'FROM busybox\nCOPY ../secret /\n' });
    r = await daemon.berth(['build', outside]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /COPY failed: forbidden path outside the build context: \.\.\/secret/);

    const failing = ctx({ Dockerfile: 'FROM busybox\nRUN echo before\nRUN exit 3\nRUN echo never\n' });
    r = await daemon.berth(['build', '-t', 'shouldnotexist', failing]);
    assert.equal(r.code, 3, r.stderr + r.stdout);
    assert.match(r.stderr, /The command '\/bin\/sh -c exit 3' returned a non-zero code: 3/);
    assert.doesNotMatch(r.stdout, /echo never|Successfully/);
    r = await dockerBuild(['-t', 'shouldnotexist', failing]);
    assert.equal(r.code, 3, r.stderr);
    const img = await daemon.api('GET', '/images/shouldnotexist/json');
    assert.equal(img.status, 404);
    // Nothing of the failed step is left mounted.
    const mounts = readFileSync('/proc/self/mounts', 'utf8');
    assert.ok(!mounts.includes(join(daemon.dataRoot, 'build')), 'no build mounts left');

    const badTag = await daemon.berth(['build', '-t', 'Bad:Tag', failing]);
    assert.equal(badTag.code, 1);
    assert.match(badTag.stderr, /invalid reference format/);
  });

  test('a context with hostile tar entries is refused and writes nothing outside', async () => {
    const probe = join(daemon.dir, 'probe.txt');
    writeFileSync(probe, 'untouched');
    const hostile = [
      // ../ escaping the context
      tarOf([{ name: 'Dockerfile', body: 'FROM busybox\n' }, { name: '../../probe.txt', body: 'pwned' }]),
      // a symlink pointing out, then a write through it
      tarOf([{ name: 'Dockerfile', body: 'FROM busybox\n' }, { name: 'link', type: 'symlink', linkname: daemon.dir }, { name: 'link/probe.txt', body: 'pwned' }]),
    ];
    for (const t of hostile) {
      const r = await rawBuild(daemon.socket, t);
      assert.equal(r.status, 200);
      assert.match(r.body, /"errorDetail"/);
      assert.match(r.body, /not a safe tar|escapes|symbolic link/);
    }
    assert.equal(readFileSync(probe, 'utf8'), 'untouched');
  });

  test('RUN deletions become whiteouts; opaque dirs; RUN --mount cache and bind; ADD of an http URL', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => {
      if (req.url === '/files/remote.txt') {
        res.writeHead(200, { 'Last-Modified': 'Wed, 21 Oct 2015 07:28:00 GMT' });
        res.end('remote body\n');
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const dir = ctx({
        Dockerfile: [
          'FROM busybox AS tools',
          'RUN mkdir -p /opt/tool && echo tool-v1 > /opt/tool/version',
          'FROM busybox',
          'RUN rm /bin/vi && mkdir -p /var/lib/x && echo old > /var/lib/x/old',
          'RUN rm -rf /var/lib/x && mkdir /var/lib/x && echo new > /var/lib/x/new',
          'RUN --mount=type=cache,target=/cache echo run >> /cache/count && wc -l < /cache/count > /cache-count',
          'RUN --mount=type=bind,from=tools,source=/opt/tool,target=/mnt/tool cat /mnt/tool/version > /tool-version',
          'RUN --mount=type=bind,source=data.txt,target=/ctx-data.txt cp /ctx-data.txt /copied.txt',
          `ADD http://127.0.0.1:${port}/files/remote.txt /remote/`,
          'COPY data.txt /late.txt',
          '',
        ].join('\n'),
        'data.txt': 'ctx data\n',
      });
      const r = await daemon.berth(['build', '-t', 'layers', dir]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const check = await daemon.berth([
        'run', '--rm', 'layers', 'sh', '-c',
        'test -e /bin/vi && echo vi-present; ls /var/lib/x; cat /cache-count /tool-version /copied.txt /remote/remote.txt; stat -c "%a %Y" /remote/remote.txt; test -e /mnt/tool/version || echo no-mount-stub; test -e /cache || echo no-cache-stub',
      ]);
      assert.equal(check.code, 0, check.stderr);
      assert.equal(check.stdout, 'new\n1\ntool-v1\nctx data\nremote body\n600 1445412480\nno-mount-stub\nno-cache-stub\n');
      // The cache mount keeps its content across builds that do run the step.
      const again = await daemon.berth(['build', '--no-cache', '-t', 'layers', dir]);
      assert.equal(again.code, 0, again.stderr);
      const count = await daemon.berth(['run', '--rm', 'layers', 'cat', '/cache-count']);
      assert.equal(count.stdout, '2\n');
      // ADD --checksum: the download must match.
      const { createHash } = await import('node:crypto');
      const good = `sha256:${createHash('sha256').update('remote body\n').digest('hex')}`;
      const sum = ctx({ Dockerfile: `FROM busybox\nADD --checksum=${good} http://127.0.0.1:${port}/files/remote.txt /r.txt\n` });
      const ok = await daemon.berth(['build', sum]);
      assert.equal(ok.code, 0, ok.stderr);
      const badSum = ctx({ Dockerfile: `FROM busybox\nADD --checksum=sha256:${'0'.repeat(64)} http://127.0.0.1:${port}/files/remote.txt /r.txt\n` });
      const bad = await daemon.berth(['build', badSum]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /Dockerfile:2: ADD failed: digest mismatch/);
      const missing = ctx({ Dockerfile: `FROM busybox\nADD http://127.0.0.1:${port}/nothere /r.txt\n` });
      const m = await daemon.berth(['build', missing]);
      assert.equal(m.code, 1);
      assert.match(m.stderr, /Dockerfile:2: ADD failed: .*got HTTP status code 404/);
    } finally {
      server.close();
    }
  });

  test('FROM scratch, proxy build args without ARG, unused build args warned about', async () => {
    const dir = ctx({ Dockerfile: 'FROM busybox AS b\nRUN echo "proxy=$HTTP_PROXY" && echo hi > /hi\nFROM scratch\nCOPY --from=b /hi /hi\n' });
    const r = await daemon.berth(['build', '--build-arg', 'HTTP_PROXY=http://127.0.0.1:9', '--build-arg', 'UNUSED=1', '-t', 'scratchy', dir]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^proxy=http:\/\/127\.0\.0\.1:9$/m);
    assert.match(r.stdout, /^Step 3\/4 : FROM scratch\n ---> \n/m);
    assert.match(r.stdout, /^\[Warning\] One or more build-args \[UNUSED\] were not consumed$/m);
    const hist = await daemon.docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'scratchy']);
    assert.equal(hist.code, 0, hist.stderr);
    assert.doesNotMatch(hist.stdout, /HTTP_PROXY/);
    const inspect = JSON.parse((await daemon.docker(['image', 'inspect', 'scratchy'])).stdout)[0];
    assert.equal(inspect.RootFS.Layers.length, 1);
  });

  test('RUN is on the default bridge as with docker build (an address and a default route); --network=none is loopback only; nothing stays leased', async () => {
    const dir = ctx({ Dockerfile: 'FROM busybox\nRUN ip -4 -o addr show eth0; ip route\nRUN --network=none ip -o link | grep -c eth0 || echo no-eth0\n' });
    const r = await daemon.berth(['build', '--no-cache', dir]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const bip = JSON.parse(readFileSync(join(daemon.dir, 'daemon.json'), 'utf8')).bip as string;
    const gateway = bip.split('/')[0];
    const prefix = gateway.split('.').slice(0, 3).join('.');
    assert.match(r.stdout, new RegExp(`eth0\\s+inet ${prefix.replace(/\./g, '\\.')}\\.\\d+/26`));
    assert.match(r.stdout, new RegExp(`^default via ${gateway.replace(/\./g, '\\.')} dev eth0`, 'm'));
    assert.match(r.stdout, /^no-eth0$/m);
    const ipam = join(daemon.dataRoot, 'network', 'ipam');
    const leases = readdirSync(ipam).flatMap((n) => readdirSync(join(ipam, n)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)));
    assert.deepEqual(leases, []);
  });

  /** A build whose RUN prints `started` then sleeps; resolves once that line (not the Step line) is out. */
  async function buildUntilStarted(tag: string, sleep: number) {
    const { spawn } = await import('node:child_process');
    const netnsBefore = new Set(readdirSync('/run/netns'));
    const dir = ctx({ Dockerfile: `FROM busybox\nRUN echo started && exec sleep ${sleep}\nRUN echo never\n` });
    const child = spawn('bin/berth', ['build', '-t', tag, dir], {
      cwd: join(import.meta.dirname, '..', '..'),
      env: { ...process.env, BERTH_HOST: daemon.host },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (/^started$/m.test(out)) resolve();
      });
      child.once('exit', () => reject(new Error(`the build ended before its RUN started:\n${out}`)));
    });
    // The step runs under the build's own runtime root (build-crun or build-runc) on the default bridge.
    const rootName = readdirSync(daemon.execRoot).find((n) => n.startsWith('build-'));
    assert.ok(rootName, 'a build runtime root under the exec root');
    const root = join(daemon.execRoot, rootName);
    const runtime = rootName.slice('build-'.length);
    const running = async () => (await runCommand(runtime, ['--root', root, 'list', '-q'])).stdout.trim();
    assert.notEqual(await running(), '', 'the RUN step is listed by its runtime');
    const stepNetns = readdirSync('/run/netns').filter((n) => !netnsBefore.has(n));
    assert.equal(stepNetns.length, 1, 'the RUN step has a network namespace of its own');
    const sleeping = () => spawnSync('pgrep', ['-f', `^sleep ${sleep}$`]).stdout.toString().trim();
    assert.notEqual(sleeping(), '', 'the step\'s process runs');
    return { child, running, stepNetns: stepNetns[0]!, sleeping };
  }

  test('a client that goes away cancels the build: the RUN is killed, its network released, nothing is tagged', async () => {
    const b = await buildUntilStarted('cancelled', 67);
    b.child.kill('SIGKILL');
    const t0 = Date.now();
    // The step container goes away well before its sleep would end.
    while ((await b.running()) !== '' || b.sleeping() !== '' || existsSync(`/run/netns/${b.stepNetns}`)) {
      assert.ok(Date.now() - t0 < 30_000, `build step still there: ${await b.running()} ${b.sleeping()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal((await daemon.api('GET', '/images/cancelled/json')).status, 404);
  });

  test('berthd stopping mid-build cancels it: the RUN is killed and its network released before the daemon exits', async () => {
    const b = await buildUntilStarted('interrupted', 68);
    const t0 = Date.now();
    await daemon.stopDaemon();
    assert.ok(Date.now() - t0 < 9_000, 'berthd exited on SIGTERM (not killed after the harness\'s 10 s)');
    assert.equal(b.sleeping(), '', 'no step process outlives the daemon');
    assert.equal(await b.running(), '', 'no step container left in the runtime');
    assert.ok(!existsSync(`/run/netns/${b.stepNetns}`), 'the step\'s network namespace is gone');
    // The CLI lost its connection: it ends (it may have already).
    if (b.child.exitCode === null && b.child.signalCode === null) await new Promise((r) => b.child.once('exit', r));
    await daemon.start();
    assert.equal((await daemon.api('GET', '/images/interrupted/json')).status, 404);
  });

  test('docker build - < Dockerfile (no context), and POST /build with a bare Dockerfile', async () => {
    const r = await dockerBuild(['-t', 'stdin-df', '-'], 'FROM busybox\nRUN echo from-stdin\n');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^from-stdin$/m);
  });
});

interface TarSpec {
  name: string;
  body?: string;
  type?: 'file' | 'symlink';
  linkname?: string;
}

function tarOf(entries: TarSpec[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(body.length.toString(8).padStart(11, '0') + '\0', 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write(e.type === 'symlink' ? '2' : '0', 156);
    if (e.linkname) h.write(e.linkname, 157, 100, 'utf8');
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(h, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

async function rawBuild(socket: string, body: Buffer): Promise<{ status: number; body: string }> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: '/build?t=hostile', method: 'POST', headers: { 'Content-Type': 'application/x-tar' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
