// Container logs through the docker CLI: json-file rotation on by default, --log-opt and daemon.json
// log-opts, --log-driver none, and `logs`/`logs -f` across rotated files and a berthd kill -9.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusybox } from '../fixtures/images.js';
import type { RunningRegistry } from '../fixtures/registry.js';
import { startStack, type TestDaemon } from './harness.js';

/** The log files of a container as `ls` shows them: name → size. */
function logFiles(logPath: string): Map<string, number> {
  const base = logPath.slice(dirname(logPath).length + 1);
  const out = new Map<string, number>();
  for (const name of readdirSync(dirname(logPath))) {
    if (name === base || /^\d+$/.test(name.slice(base.length + 1)) && name.startsWith(`${base}.`)) out.set(name, statSync(join(dirname(logPath), name)).size);
  }
  return out;
}

/** `line N` for each number in [from, to). */
function lines(from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += `line ${i}\n`;
  return s;
}

/** Numbers of the `line N` lines in some output, in order. */
function numbers(text: string): number[] {
  return [...text.matchAll(/^line (\d+)$/gm)].map((m) => Number(m[1]));
}

describe('container logs: rotation and drivers', () => {
  let registry: RunningRegistry;
  let daemon: TestDaemon;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  let image: string;

  before(async () => {
    stack = await startStack({ mirror: false, seed: pushBusybox });
    ({ registry, daemon } = stack);
    image = `${registry.host}/library/busybox:latest`;
  });

  after(async () => {
    await stack?.stop();
  });

  const inspect = (name: string, format: string) => daemon.inspect(name, format);

  /** `docker logs -f` in the background, resolved with its output when it ends. */
  const follow = (name: string) => {
    const child = spawn('docker', ['logs', '-f', name], { env: { ...process.env, DOCKER_HOST: daemon.host, DOCKER_CONFIG: join(daemon.dir, 'docker-config') } });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const done = new Promise<{ code: number; out: string; err: string }>((resolve) => child.on('close', (code) => resolve({ code: code ?? 1, out, err })));
    const seen = async (text: string) => {
      for (let i = 0; i < 300 && !out.includes(text); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(out.includes(text), `logs -f did not show ${JSON.stringify(text)}: ${out.slice(-200)} ${err}`);
    };
    return { done, seen, kill: () => child.kill() };
  };

  test('without flags a container gets json-file with rotation at 10m x 3; docker info says json-file', async () => {
    const run = await daemon.docker(['create', '--name', 'plain', image, 'true']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await inspect('plain', '{{json .HostConfig.LogConfig}}'), '{"Type":"json-file","Config":{"max-file":"3","max-size":"10m"}}');
    const info = await daemon.docker(['info', '--format', '{{.LoggingDriver}}']);
    assert.equal(info.stdout.trim(), 'json-file');
    const opts = await daemon.docker(['create', '--name', 'opts', '--log-opt', 'max-size=10k', image, 'true']);
    assert.equal(opts.code, 0, opts.stderr);
    // The daemon's options fill in what the container did not set, as dockerd does.
    assert.equal(await inspect('opts', '{{json .HostConfig.LogConfig}}'), '{"Type":"json-file","Config":{"max-file":"3","max-size":"10k"}}');
    await daemon.docker(['rm', 'plain', 'opts']);
  });

  test('the berth CLI takes --log-driver and --log-opt as docker does', async () => {
    const run = await daemon.berth(['run', '--name', 'viaberth', '--log-opt', 'max-size=2k', '--log-opt', 'max-file=2', image, 'seq', '1', '2000']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await inspect('viaberth', '{{json .HostConfig.LogConfig}}'), '{"Type":"json-file","Config":{"max-file":"2","max-size":"2k"}}');
    const files = logFiles(await inspect('viaberth', '{{.LogPath}}'));
    assert.ok(files.size <= 2, `files: ${[...files.keys()].join(', ')}`);
    const tail = await daemon.berth(['logs', '--tail', '2', 'viaberth']);
    assert.equal(tail.stdout, '1999\n2000\n');
    const none = await daemon.berth(['run', '--log-driver', 'none', '--log-opt', 'max-size=1k', image, 'true']);
    assert.equal(none.code, 125);
    assert.match(none.stderr, /invalid logging opts for driver none/);
    const bad = await daemon.berth(['run', '--log-opt', 'max-size=abc', image, 'true']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid size: 'abc'/);
    await daemon.berth(['rm', 'viaberth']);
  });

  test('bad log options and unknown drivers are refused at create with docker\'s words', async () => {
    const cases: Array<[string[], string]> = [
      [['--log-opt', 'max-size=abc'], "invalid size: 'abc'"],
      [['--log-opt', 'max-file=0'], 'max-file cannot be less than 1'],
      [['--log-opt', 'max-size=-1'], "size: '-1' is negative"],
      [['--log-opt', 'max-file=x'], 'strconv.Atoi: parsing "x": invalid syntax'],
      [['--log-opt', 'color=blue'], "unknown log opt 'color' for json-file log driver"],
      [['--log-driver', 'splunkish'], "logger: no log driver named 'splunkish' is registered"],
    ];
    for (const [flags, words] of cases) {
      const r = await daemon.docker(['run', '-d', '--name', 'bad', ...flags, image, 'true']);
      assert.equal(r.code, 125, `${flags.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.includes(words), `${flags.join(' ')}: ${r.stderr}`);
    }
    const api = await daemon.api('POST', '/containers/create?name=bad', { Image: image, HostConfig: { LogConfig: { Type: 'json-file', Config: { 'max-file': '0' } } } });
    assert.equal(api.status, 400);
    const none = await daemon.docker(['run', '--log-driver', 'none', '--log-opt', 'max-size=1k', image, 'true']);
    assert.equal(none.code, 125);
    assert.match(none.stderr, /invalid logging opts for driver none/);
    const ps = await daemon.docker(['ps', '-a', '--format', '{{.Names}}']);
    assert.doesNotMatch(ps.stdout, /\bbad\b/);
  });

  test('--log-driver none: output still reaches an attached run, but docker logs refuses as docker does', async () => {
    const run = await daemon.docker(['run', '--name', 'quiet', '--log-driver', 'none', image, 'echo', 'hello']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'hello\n');
    assert.equal(await inspect('quiet', '{{.HostConfig.LogConfig.Type}}'), 'none');
    const logs = await daemon.docker(['logs', 'quiet']);
    assert.equal(logs.code, 1);
    assert.match(logs.stderr, /configured logging driver does not support reading/);
    await daemon.docker(['rm', 'quiet']);
  });

  test('far more output than max-size x max-file: at most max-file files, logs shows the latest in order, logs -f sees every line once', async () => {
    const total = 6000;
    const run = await daemon.docker([
      'run', '-d', '--name', 'burst', '--log-opt', 'max-size=10k', '--log-opt', 'max-file=2', image,
      'sh', '-c', `echo ready; until [ -e /go ]; do sleep 0.1; done; i=0; while [ $i -lt ${total} ]; do echo "line $i"; i=$((i+1)); done`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const follower = follow('burst');
    await follower.seen('ready\n');
    writeFileSync(join(await inspect('burst', '{{.GraphDriver.Data.MergedDir}}'), 'go'), '');
    const followed = await follower.done;
    assert.equal((await daemon.docker(['wait', 'burst'])).stdout.trim(), '0');

    // Every line exactly once, in order, across the ~20 rotations that happened under it.
    assert.equal(followed.out, `ready\n${lines(0, total)}`, followed.err);

    const files = logFiles(await inspect('burst', '{{.LogPath}}'));
    assert.ok(files.size <= 2, `files: ${[...files.keys()].join(', ')}`);
    // berthd rotates once it sees the file at max-size: a writer in a tight loop gets further
    // first (the paced test below checks the usual case), never past conmon's own cap.
    for (const [name, size] of files) assert.ok(size <= 10_000 + 1024 * 1024, `${name} is ${size} bytes`);

    const logs = await daemon.docker(['logs', 'burst']);
    const shown = numbers(logs.stdout);
    assert.equal(shown.at(-1), total - 1);
    assert.ok(shown[0] > 0, 'the oldest lines were rotated out');
    assert.deepEqual(shown, Array.from({ length: shown.length }, (_, i) => shown[0] + i), 'the lines kept are consecutive');
    const tail = await daemon.docker(['logs', '--tail', '3', 'burst']);
    assert.equal(tail.stdout, lines(total - 3, total));
    await daemon.docker(['rm', 'burst']);
  });

  test('a container writing at a steady pace: each file stays about max-size', async () => {
    // ~500 lines a second, ~20 kB/s on disk: berthd rotates within a fraction of a file.
    const run = await daemon.docker([
      'run', '--name', 'paced', '--log-opt', 'max-size=10k', '--log-opt', 'max-file=3', image,
      'sh', '-c', 'i=0; while [ $i -lt 1500 ]; do echo "line $i"; i=$((i+1)); [ $((i % 10)) -eq 0 ] && usleep 20000; done; true',
    ], { timeoutMs: 60_000 });
    assert.equal(run.code, 0, run.stderr);
    const files = logFiles(await inspect('paced', '{{.LogPath}}'));
    assert.equal(files.size, 3, `files: ${[...files.keys()].join(', ')}`);
    for (const [name, size] of files) assert.ok(size <= 10_000 + 4096, `${name} is ${size} bytes`);
    const shown = numbers((await daemon.docker(['logs', 'paced'])).stdout);
    assert.equal(shown.at(-1), 1499);
    assert.deepEqual(shown, Array.from({ length: shown.length }, (_, i) => shown[0] + i));
    await daemon.docker(['rm', 'paced']);
  });

  test('daemon.json log-opts are the defaults; a kill -9 of berthd loses no line and rotation resumes', async () => {
    const config = JSON.parse(readFileSync(daemon.configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(daemon.configFile, JSON.stringify({ ...config, 'log-opts': { 'max-size': '8k', 'max-file': '12' } }));
    await daemon.stopDaemon();
    await daemon.start();
    const info = await daemon.docker(['info', '--format', '{{.LoggingDriver}}']);
    assert.equal(info.stdout.trim(), 'json-file');

    const step = (n: number, from: number, to: number) =>
      `until [ -e /go${n} ]; do sleep 0.05; done; i=${from}; while [ $i -lt ${to} ]; do echo "line $i"; i=$((i+1)); done; echo step${n}`;
    const run = await daemon.docker(['run', '-d', '--name', 'steady', image, 'sh', '-c', `echo ready; ${step(1, 0, 600)}; ${step(2, 600, 1000)}; ${step(3, 1000, 1200)}`]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await inspect('steady', '{{json .HostConfig.LogConfig.Config}}'), '{"max-file":"12","max-size":"8k"}');
    const merged = await inspect('steady', '{{.GraphDriver.Data.MergedDir}}');
    const logPath = await inspect('steady', '{{.LogPath}}');
    const before = follow('steady');
    await before.seen('ready\n');
    writeFileSync(join(merged, 'go1'), '');
    await before.seen('step1\n');

    // berthd goes away; conmon keeps writing (more than max-size, less than its own cap).
    daemon.kill9();
    await before.done;
    writeFileSync(join(merged, 'go2'), '');
    for (let i = 0; i < 100 && !readFileSync(logPath, 'utf8').includes('step2'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(statSync(logPath).size > 8000, 'the live file grew past max-size while berthd was down');
    await daemon.start();

    // Back: the oversized live file is rotated at once, and logs -f continues through what follows.
    const afterRestart = follow('steady');
    await afterRestart.seen('step2\n');
    writeFileSync(join(merged, 'go3'), '');
    const followed = await afterRestart.done;
    assert.equal((await daemon.docker(['wait', 'steady'])).stdout.trim(), '0');
    assert.equal(followed.out, `ready\n${lines(0, 600)}step1\n${lines(600, 1000)}step2\n${lines(1000, 1200)}step3\n`);

    const logs = await daemon.docker(['logs', 'steady']);
    assert.equal(logs.stdout, followed.out, 'nothing was lost or doubled on disk');
    const files = logFiles(logPath);
    assert.ok(files.size > 2 && files.size <= 12, `files: ${[...files.keys()].join(', ')}`);
    const live = files.get(logPath.slice(dirname(logPath).length + 1)) ?? 0;
    assert.ok(live < 8000 + 16 * 1024, `live file ${live} bytes`);
    await daemon.docker(['rm', 'steady']);
  });
});
