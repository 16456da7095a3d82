// GET /events and `docker events`: container and image events in docker's shape, replay with
// --since/--until, live streaming, filters.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pushBusybox } from '../fixtures/images.js';
import { startStack, type TestDaemon } from './harness.js';

describe('events', () => {
  let daemon: TestDaemon;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  let t0: number;

  before(async () => {
    stack = await startStack({ mirror: true, seed: pushBusybox });
    ({ daemon } = stack);
    t0 = Math.floor(Date.now() / 1000) - 1;
    const pull = await daemon.docker(['pull', 'busybox']);
    assert.equal(pull.code, 0, pull.stderr);
  });

  after(async () => {
    await stack?.stop();
  });

  const now = () => String(Math.ceil(Date.now() / 1000) + 1);

  test('a container\'s life, replayed with --since/--until', async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const cmds = [
      ['create', '--name', 'ev1', '-l', 'app=web', 'busybox', 'sleep', '300'],
      ['start', 'ev1'],
      ['pause', 'ev1'],
      ['unpause', 'ev1'],
      ['rename', 'ev1', 'ev2'],
      ['kill', '-s', 'USR1', 'ev2'],
      ['stop', '-t', '0', 'ev2'],
      ['restart', '-t', '0', 'ev2'],
      ['rm', '-f', 'ev2'],
    ];
    for (const c of cmds) {
      const r = await daemon.docker(c);
      assert.equal(r.code, 0, `${c.join(' ')}: ${r.stderr}`);
    }
    const r = await daemon.docker(['events', '--since', since, '--until', now(), '--filter', 'type=container', '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines, [
      'create ev1',
      'start ev1',
      'pause ev1',
      'unpause ev1',
      'rename ev2',
      'kill ev2', // USR1: sleep as PID 1 ignores it
      'kill ev2', // stop -t 0: SIGTERM...
      'kill ev2', // ...then SIGKILL at once
      'die ev2',
      'stop ev2',
      'start ev2', // restart of a stopped container: just a start
      'restart ev2',
      'kill ev2',
      'die ev2',
      'destroy ev2',
    ]);
    const attrs = await daemon.docker(['events', '--since', since, '--until', now(), '--filter', 'event=die', '--filter', 'event=kill', '--filter', 'event=rename', '--format', '{{.Action}} {{json .Actor.Attributes}}']);
    const al = attrs.stdout.trim().split('\n');
    assert.match(al[0], /^rename .*"oldName":"\/ev1"/);
    assert.match(al[1], /^kill .*"signal":"10"/);
    assert.match(al[2], /^kill .*"signal":"15"/);
    assert.match(al[4], /^die .*"exitCode":"137".*"image":"busybox"/);
    assert.match(al[4], /"app":"web"/);
  });

  test('docker\'s default line format and JSON shape', async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const run = await daemon.docker(['run', '--name', 'ev3', 'busybox', 'true']);
    assert.equal(run.code, 0, run.stderr);
    const r = await daemon.docker(['events', '--since', since, '--until', now(), '--filter', 'container=ev3', '--filter', 'event=die']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) container die [0-9a-f]{64} \(execDuration=\d+, exitCode=0, image=busybox, name=ev3\)\n$/);
    const j = await daemon.docker(['events', '--since', since, '--until', now(), '--filter', 'container=ev3', '--filter', 'event=start', '--format', '{{json .}}']);
    const m = JSON.parse(j.stdout);
    assert.equal(m.Type, 'container');
    assert.equal(m.Action, 'start');
    assert.equal(m.status, 'start');
    assert.equal(m.from, 'busybox');
    assert.equal(m.id, m.Actor.ID);
    assert.equal(m.scope, 'local');
    assert.equal(typeof m.time, 'number');
    assert.equal(Math.floor(m.timeNano / 1e9), m.time);
    // attach: docker run attaches before it starts.
    const attach = await daemon.docker(['events', '--since', since, '--until', now(), '--filter', 'container=ev3', '--format', '{{.Action}}']);
    assert.deepEqual(attach.stdout.trim().split('\n').slice(0, 3), ['create', 'attach', 'start']);
  });

  test('image events: pull, untag, delete', async () => {
    const since = String(t0);
    const r = await daemon.docker(['events', '--since', since, '--until', now(), '--filter', 'type=image', '--format', '{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^image pull busybox:latest busybox$/m);
  });

  test('live events stream while they happen, then stop at --until', async () => {
    const untilAt = String(Math.floor(Date.now() / 1000) + 4);
    const watcher = daemon.berth(['events', '--until', untilAt, '--filter', 'container=live1', '--format', '{{.Action}}']);
    await new Promise((r) => setTimeout(r, 700));
    const run = await daemon.docker(['run', '--name', 'live1', 'busybox', 'sh', '-c', 'exit 4']);
    assert.equal(run.code, 4);
    const out = await watcher;
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(out.stdout.trim().split('\n'), ['create', 'attach', 'start', 'die']);
  });

  test('bad filters and times are 400', async () => {
    const badKey = await daemon.api('GET', `/events?filters=${encodeURIComponent('{"colour":{"red":true}}')}`);
    assert.equal(badKey.status, 400);
    assert.equal(badKey.body.message, "invalid filter 'colour'");
    const badTime = await daemon.api('GET', '/events?since=yesterday');
    assert.equal(badTime.status, 400);
  });
});
