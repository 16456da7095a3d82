// Container lifecycle through the real docker CLI and the berth CLI against berthd: create,
// start (-a), stop (signal, timeout, SIGKILL → 137), kill, restart, pause/unpause, wait, rename,
// rm, inspect's State, top, container prune, ps filters and --format, and docker's errors.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusybox } from '../fixtures/images.js';
import { startStack, type TestDaemon } from './harness.js';

describe('container lifecycle', () => {
  let daemon: TestDaemon;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;

  before(async () => {
    stack = await startStack({ mirror: true, seed: pushBusybox });
    ({ daemon } = stack);
    const pull = await daemon.docker(['pull', 'busybox']);
    assert.equal(pull.code, 0, pull.stderr);
  });

  after(async () => {
    await stack?.stop();
  });

  const inspect = (name: string, format: string) => daemon.inspect(name, format);

  test('docker create, then start -a prints the output and exits with the code', async () => {
    const created = await daemon.docker(['create', '--name', 'c1', '-l', 'team=blue', '--stop-timeout', '3', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 5']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout.trim(), /^[0-9a-f]{64}$/);
    assert.equal(await inspect('c1', '{{.State.Status}} {{.State.Running}} {{.Config.Labels.team}} {{.Config.StopTimeout}}'), 'created false blue 3');
    const started = await daemon.docker(['start', '-a', 'c1']);
    assert.equal(started.code, 5);
    assert.equal(started.stdout, 'out\n');
    assert.equal(started.stderr, 'err\n');
    assert.equal(await inspect('c1', '{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}}'), 'exited 5 0');
    // berth's start -a does the same.
    const again = await daemon.berth(['start', '-a', 'c1']);
    assert.equal(again.code, 5);
    assert.equal(again.stdout, 'out\n');
  });

  test('berth create and start print the ID and the name', async () => {
    const created = await daemon.berth(['create', '--name', 'c2', 'busybox', 'sleep', '300']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout.trim(), /^[0-9a-f]{64}$/);
    const started = await daemon.berth(['start', 'c2']);
    assert.equal(started.code, 0, started.stderr);
    assert.equal(started.stdout, 'c2\n');
    assert.equal(await inspect('c2', '{{.State.Status}} {{.State.Running}}'), 'running true');
    const pid = Number(await inspect('c2', '{{.State.Pid}}'));
    assert.ok(pid > 0);
  });

  test('stop honours the stop signal; SIGKILL after the timeout gives 137', async () => {
    // A process that ignores SIGTERM: stop -t 1 must SIGKILL it.
    const run = await daemon.docker(['run', '-d', '--name', 'stubborn', 'busybox', 'sh', '-c', "trap '' TERM; while true; do sleep 1; done"]);
    assert.equal(run.code, 0, run.stderr);
    const stop = await daemon.docker(['stop', '-t', '1', 'stubborn']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout, 'stubborn\n');
    assert.equal(await inspect('stubborn', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 137');
    // --stop-signal: the shell exits on SIGUSR1 with its trap's code.
    const sig = await daemon.docker(['run', '-d', '--name', 'usr1', '--stop-signal', 'SIGUSR1', 'busybox', 'sh', '-c', "trap 'exit 42' USR1; while true; do sleep 0.2; done"]);
    assert.equal(sig.code, 0, sig.stderr);
    assert.equal(await inspect('usr1', '{{.Config.StopSignal}}'), 'SIGUSR1');
    const stop2 = await daemon.berth(['stop', 'usr1']);
    assert.equal(stop2.code, 0, stop2.stderr);
    assert.equal(await inspect('usr1', '{{.State.ExitCode}}'), '42');
    // stop -s overrides it.
    const start = await daemon.docker(['start', 'usr1']);
    assert.equal(start.code, 0, start.stderr);
    const stop3 = await daemon.docker(['stop', '-s', 'KILL', 'usr1']);
    assert.equal(stop3.code, 0, stop3.stderr);
    assert.equal(await inspect('usr1', '{{.State.ExitCode}}'), '137');
  });

  test('kill with a signal; killing a stopped container is a 409', async () => {
    const run = await daemon.docker(['run', '-d', '--name', 'k1', 'busybox', 'sh', '-c', "trap 'exit 3' HUP; while true; do sleep 0.2; done"]);
    assert.equal(run.code, 0, run.stderr);
    const kill = await daemon.docker(['kill', '-s', 'HUP', 'k1']);
    assert.equal(kill.code, 0, kill.stderr);
    const wait = await daemon.docker(['wait', 'k1']);
    assert.equal(wait.stdout.trim(), '3');
    const again = await daemon.docker(['kill', 'k1']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /is not running/);
    const bad = await daemon.api('POST', '/containers/k1/start');
    assert.equal(bad.status, 204);
    const badSig = await daemon.api('POST', '/containers/k1/kill?signal=NOPE');
    assert.equal(badSig.status, 400);
    assert.match(badSig.body.message, /Invalid signal: NOPE/);
    assert.equal((await daemon.api('POST', '/containers/k1/kill')).status, 204);
    assert.equal((await daemon.docker(['wait', 'k1'])).stdout.trim(), '137');
  });

  test('pause and unpause: status paused everywhere; 409s with docker\'s messages', async () => {
    const run = await daemon.docker(['run', '-d', '--name', 'p1', 'busybox', 'sleep', '300']);
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    const pause = await daemon.docker(['pause', 'p1']);
    assert.equal(pause.code, 0, pause.stderr);
    assert.equal(pause.stdout, 'p1\n');
    assert.equal(await inspect('p1', '{{.State.Status}} {{.State.Paused}} {{.State.Running}}'), 'paused true true');
    const ps = await daemon.docker(['ps', '--filter', 'name=p1', '--format', '{{.Status}}|{{.State}}']);
    assert.match(ps.stdout, /^Up .* \(Paused\)\|paused$/m);
    // The processes are frozen in the cgroup: the freezer says so.
    const again = await daemon.docker(['pause', 'p1']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`Container ${id} is already paused`));
    const top = await daemon.api('GET', '/containers/p1/top');
    assert.equal(top.status, 409);
    const unpause = await daemon.berth(['unpause', 'p1']);
    assert.equal(unpause.code, 0, unpause.stderr);
    assert.equal(await inspect('p1', '{{.State.Status}} {{.State.Paused}}'), 'running false');
    const notPaused = await daemon.docker(['unpause', 'p1']);
    assert.equal(notPaused.code, 1);
    assert.match(notPaused.stderr, new RegExp(`Container ${id} is not paused`));
    // A paused container stops: it is thawed so the signal lands.
    assert.equal((await daemon.docker(['pause', 'p1'])).code, 0);
    const stop = await daemon.docker(['stop', '-t', '5', 'p1']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(await inspect('p1', '{{.State.Status}}'), 'exited');
    const stopped = await daemon.api('POST', '/containers/p1/pause');
    assert.equal(stopped.status, 409);
    assert.equal(stopped.body.message, `Container ${id} is not running`);
  });

  test('restart stops and starts; StartedAt moves', async () => {
    const run = await daemon.docker(['run', '-d', '--name', 'r1', 'busybox', 'sleep', '300']);
    assert.equal(run.code, 0, run.stderr);
    const before = await inspect('r1', '{{.State.StartedAt}} {{.State.Pid}}');
    const r = await daemon.docker(['restart', '-t', '1', 'r1']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'r1\n');
    const afterRestart = await inspect('r1', '{{.State.StartedAt}} {{.State.Pid}} {{.State.Status}}');
    assert.notEqual(afterRestart.split(' ').slice(0, 2).join(' '), before);
    assert.match(afterRestart, / running$/);
    const b = await daemon.berth(['restart', '-t', '0', 'r1']);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(await inspect('r1', '{{.State.Status}}'), 'running');
  });

  test('wait conditions through the API', async () => {
    const run = await daemon.docker(['run', '-d', '--name', 'w1', 'busybox', 'sh', '-c', 'sleep 1; exit 9']);
    assert.equal(run.code, 0, run.stderr);
    const next = await daemon.api('POST', '/containers/w1/wait?condition=next-exit');
    assert.deepEqual(next.body, { StatusCode: 9, Error: null });
    const notRunning = await daemon.api('POST', '/containers/w1/wait?condition=not-running');
    assert.equal(notRunning.body.StatusCode, 9);
    const bad = await daemon.api('POST', '/containers/w1/wait?condition=sometime');
    assert.equal(bad.status, 400);
    const multi = await daemon.berth(['wait', 'w1', 'nope']);
    assert.equal(multi.code, 1);
    assert.equal(multi.stdout, '9\n');
    assert.match(multi.stderr, /No such container: nope/);
  });

  test('rename: the new name works, the old one is gone; taken name 409, same name 400', async () => {
    const run = await daemon.docker(['create', '--name', 'old-name', 'busybox', 'true']);
    assert.equal(run.code, 0, run.stderr);
    const r = await daemon.docker(['rename', 'old-name', 'new-name']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await inspect('new-name', '{{.Name}}'), '/new-name');
    const gone = await daemon.docker(['inspect', 'old-name']);
    assert.equal(gone.code, 1);
    const taken = await daemon.docker(['rename', 'new-name', 'c1']);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /Conflict\. The container name "\/c1" is already in use by container "[0-9a-f]{64}"/);
    const same = await daemon.api('POST', '/containers/new-name/rename?name=new-name');
    assert.equal(same.status, 400);
    const invalid = await daemon.berth(['rename', 'new-name', 'bad name!']);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /Invalid container name/);
    const unknown = await daemon.api('POST', '/containers/nope/rename?name=x');
    assert.equal(unknown.status, 404);
    assert.equal(await inspect('new-name', '{{.Name}}'), '/new-name');
  });

  test('top lists the container\'s processes with docker\'s columns', async () => {
    const t = await daemon.docker(['top', 'c2']);
    assert.equal(t.code, 0, t.stderr);
    const [header, ...rows] = t.stdout.trimEnd().split('\n');
    assert.match(header, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    assert.equal(rows.length, 1);
    assert.match(rows[0], /sleep 300$/);
    const api = await daemon.api('GET', '/containers/c2/top?ps_args=-o%20pid,comm');
    assert.equal(api.status, 200);
    assert.deepEqual(api.body.Titles, ['PID', 'COMMAND']);
    assert.equal(api.body.Processes[0][1], 'sleep');
    assert.equal(api.body.Processes[0][0], await inspect('c2', '{{.State.Pid}}'));
    const b = await daemon.berth(['top', 'c2', '-o', 'pid,args']);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /^PID\s+COMMAND\n\d+\s+sleep 300\n$/);
    const stopped = await daemon.docker(['top', 'c1']);
    assert.equal(stopped.code, 1);
    assert.match(stopped.stderr, /is not running/);
  });

  test('ps filters: status, name, label, id, exited, ancestor, before/since; bad filters are 400', async () => {
    const names = async (args: string[]) => {
      const r = await daemon.docker(['ps', ...args, '--format', '{{.Names}}']);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim().split('\n').filter(Boolean).sort();
    };
    assert.deepEqual(await names(['-a', '--filter', 'label=team=blue']), ['c1']);
    assert.deepEqual(await names(['-a', '--filter', 'label=team']), ['c1']);
    assert.deepEqual(await names(['--filter', 'status=exited', '--filter', 'name=^/c']), ['c1']);
    // p1 (sleep as PID 1 ignores SIGTERM) was SIGKILLed after its stop timeout too.
    assert.deepEqual(await names(['-a', '--filter', 'exited=137']), ['k1', 'p1', 'stubborn', 'usr1']);
    assert.deepEqual(await names(['--filter', 'status=running', '--filter', 'name=c2']), ['c2']);
    assert.deepEqual(await names(['-a', '--filter', 'name=c1', '--filter', 'name=c2']), ['c1', 'c2']);
    const id = await inspect('c2', '{{.Id}}');
    assert.deepEqual(await names(['-a', '--filter', `id=${id.slice(0, 10)}`]), ['c2']);
    assert.ok((await names(['-a', '--filter', 'ancestor=busybox'])).includes('c2'));
    assert.deepEqual(await names(['-a', '--filter', 'ancestor=busybox:nope']), []);
    assert.deepEqual(await names(['-a', '--filter', 'before=c2']), ['c1']);
    assert.ok(!(await names(['-a', '--filter', 'since=c2'])).includes('c1'));
    const berth = await daemon.berth(['ps', '-a', '--filter', 'label=team=blue', '--format', '{{.Names}} {{.Labels}}']);
    assert.equal(berth.stdout, 'c1 team=blue\n');
    const badKey = await daemon.api('GET', `/containers/json?filters=${encodeURIComponent('{"colour":{"red":true}}')}`);
    assert.equal(badKey.status, 400);
    assert.equal(badKey.body.message, "invalid filter 'colour'");
    const badStatus = await daemon.docker(['ps', '--filter', 'status=sleepy']);
    assert.equal(badStatus.code, 1);
    assert.match(badStatus.stderr, /invalid filter 'status=sleepy'/);
  });

  test('--format: table, json, Go template functions', async () => {
    const t = await daemon.berth(['ps', '-a', '--filter', 'name=c1', '--format', 'table {{.Names}}\t{{upper .State}}']);
    assert.equal(t.stdout, 'NAMES     STATE\nc1        EXITED\n');
    const j = await daemon.berth(['ps', '-a', '--filter', 'name=c1', '--format', '{{json .Names}}']);
    assert.equal(j.stdout, '"c1"\n');
    const f = await daemon.berth(['inspect', '-f', '{{join .Config.Cmd ","}}|{{truncate .Name 3}}|{{pad .State.Status 1 1}}|{{index .Config.Labels "team"}}|{{len .Config.Cmd}}', 'c1']);
    assert.equal(f.code, 0, f.stderr);
    assert.equal(f.stdout, 'sh,-c,echo out; echo err >&2; exit 5|/c1| exited |blue|3\n');
    const d = await daemon.docker(['inspect', '-f', '{{join .Config.Cmd ","}}|{{.State.Pid}}', 'c1']);
    assert.equal(d.stdout, 'sh,-c,echo out; echo err >&2; exit 5|0\n');
  });

  test('--env-file and -e on run', async () => {
    const file = join(daemon.dir, 'env.list');
    writeFileSync(file, '# comment\nFROM_FILE=one\n\nSPACED=a b\n');
    for (const cli of ['docker', 'berth'] as const) {
      const r = await daemon[cli](['run', '--rm', '--env-file', file, '-e', 'EXTRA=2', 'busybox', 'sh', '-c', 'echo "$FROM_FILE|$SPACED|$EXTRA"']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'one|a b|2\n');
    }
  });

  test('logs: -t with nine-digit timestamps, --tail, --since/--until (exact, durations), -f ends with the container', async () => {
    const run = await daemon.docker(['run', '-d', '--name', 'talker', 'busybox', 'sh', '-c', 'echo one; sleep 1.2; echo two >&2; sleep 1.2; echo three']);
    assert.equal(run.code, 0, run.stderr);
    const follow = await daemon.docker(['logs', '-f', 'talker']);
    assert.equal(follow.code, 0, follow.stderr);
    assert.equal(follow.stdout, 'one\nthree\n');
    assert.equal(follow.stderr, 'two\n');
    const ts = await daemon.docker(['logs', '-t', 'talker']);
    const lines = (ts.stdout + ts.stderr).trim().split('\n').sort();
    assert.equal(lines.length, 3);
    for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (one|two|three)$/);
    const stamp = (word: string) => lines.find((l) => l.endsWith(` ${word}`))!.split(' ')[0];
    for (const cli of ['docker', 'berth'] as const) {
      const tail = await daemon[cli](['logs', '--tail', '1', 'talker']);
      assert.equal(tail.stdout, 'three\n', cli);
      const since = await daemon[cli](['logs', '--since', stamp('two'), 'talker']);
      assert.equal(since.stdout, 'three\n', cli);
      assert.equal(since.stderr, 'two\n', cli);
      const until = await daemon[cli](['logs', '--until', stamp('two'), 'talker']);
      assert.equal(until.stdout, 'one\n', cli);
      assert.equal(until.stderr, 'two\n', cli);
      const recent = await daemon[cli](['logs', '--since', '10m', 'talker']);
      assert.equal(recent.stdout, 'one\nthree\n', cli);
      const old = await daemon[cli](['logs', '--until', '10m', 'talker']);
      assert.equal(old.stdout + old.stderr, '', cli);
    }
    const unix = await daemon.api('GET', `/containers/talker/logs?stdout=1&since=${Date.parse(stamp('three')) / 1000 + 1}`);
    assert.equal(unix.status, 200);
    const bad = await daemon.api('GET', '/containers/talker/logs?stdout=1&since=soon');
    assert.equal(bad.status, 400);
  });

  test('inspect has docker\'s shape', async () => {
    const r = await daemon.api('GET', '/containers/c2/json');
    assert.equal(r.status, 200);
    const b = r.body;
    for (const k of ['Id', 'Created', 'Path', 'Args', 'State', 'Image', 'ResolvConfPath', 'HostnamePath', 'HostsPath', 'LogPath', 'Name', 'RestartCount', 'Driver', 'Platform', 'MountLabel', 'ProcessLabel', 'AppArmorProfile', 'ExecIDs', 'HostConfig', 'GraphDriver', 'Mounts', 'Config', 'NetworkSettings']) {
      assert.ok(k in b, `inspect has ${k}`);
    }
    for (const k of ['Status', 'Running', 'Paused', 'Restarting', 'OOMKilled', 'Dead', 'Pid', 'ExitCode', 'Error', 'StartedAt', 'FinishedAt']) {
      assert.ok(k in b.State, `State has ${k}`);
    }
    assert.deepEqual(b.HostConfig.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
    assert.equal(b.RestartCount, 0);
    const sized = await daemon.docker(['inspect', '--size', '-f', '{{.SizeRw}} {{.SizeRootFs}}', 'c2']);
    assert.equal(sized.code, 0, sized.stderr);
    const [rw, rootfs] = sized.stdout.trim().split(' ').map(Number);
    assert.ok(rw >= 0 && rootfs > rw, sized.stdout);
  });

  test('unknown containers: "No such container" with exit 1 and 404', async () => {
    for (const args of [['start', 'ghost'], ['stop', 'ghost'], ['kill', 'ghost'], ['restart', 'ghost'], ['pause', 'ghost'], ['unpause', 'ghost'], ['wait', 'ghost'], ['rm', 'ghost'], ['top', 'ghost'], ['rename', 'ghost', 'x']]) {
      for (const cli of ['docker', 'berth'] as const) {
        const r = await daemon[cli](args);
        assert.equal(r.code, 1, `${cli} ${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /No such container: ghost/, `${cli} ${args.join(' ')}`);
      }
    }
    for (const [method, path] of [['POST', 'pause'], ['POST', 'unpause'], ['POST', 'restart'], ['GET', 'top'], ['POST', 'rename?name=x']]) {
      const r = await daemon.api(method, `/containers/ghost/${path}`);
      assert.equal(r.status, 404, path);
      assert.equal(r.body.message, 'No such container: ghost');
    }
  });

  test('rm -f removes a running container; rm refuses it with docker\'s message', async () => {
    const rm = await daemon.docker(['rm', 'c2']);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /cannot remove container "\/c2": container is running: stop the container before removing or force remove/);
    const rmf = await daemon.berth(['rm', '-f', '-v', 'c2']);
    assert.equal(rmf.code, 0, rmf.stderr);
    // --type container: without it docker inspect also tries networks and images, and "c2" is a hex
    // prefix that a network's or an image's random ID can start with.
    assert.equal((await daemon.docker(['inspect', '--type', 'container', 'c2'])).code, 1);
  });

  test('container prune removes stopped containers only, with filters', async () => {
    const keep = await daemon.docker(['run', '-d', '--name', 'keeper', 'busybox', 'sleep', '300']);
    assert.equal(keep.code, 0, keep.stderr);
    const labelled = await daemon.docker(['run', '--name', 'labelled', '-l', 'prune=me', 'busybox', 'sh', '-c', 'echo data > /file']);
    assert.equal(labelled.code, 0, labelled.stderr);
    const byLabel = await daemon.docker(['container', 'prune', '-f', '--filter', 'label=prune=me']);
    assert.equal(byLabel.code, 0, byLabel.stderr);
    const id = byLabel.stdout.match(/[0-9a-f]{64}/)?.[0];
    assert.ok(id, byLabel.stdout);
    assert.match(byLabel.stdout, /^Deleted Containers:\n[0-9a-f]{64}\n\nTotal reclaimed space: \d+(\.\d+)?k?B\n$/);
    assert.equal((await daemon.docker(['inspect', 'labelled'])).code, 1);
    const api = await daemon.api('POST', '/containers/prune');
    assert.equal(api.status, 200);
    assert.ok(api.body.ContainersDeleted.length >= 3);
    assert.equal(typeof api.body.SpaceReclaimed, 'number');
    const left = await daemon.docker(['ps', '-a', '--format', '{{.Names}}']);
    assert.deepEqual(left.stdout.trim().split('\n').sort(), ['keeper', 'r1']);
    // The prompt: declined, nothing happens; both CLIs say the same.
    const created = await daemon.docker(['create', '--name', 'spared', 'busybox', 'true']);
    assert.equal(created.code, 0, created.stderr);
    const prompt = 'WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ';
    for (const cli of ['docker', 'berth'] as const) {
      const declined = await daemon[cli](['container', 'prune'], { input: 'n\n' });
      assert.equal(declined.code, 0, declined.stderr);
      assert.equal(declined.stdout, prompt, cli);
    }
    assert.equal((await daemon.docker(['inspect', 'spared'])).code, 0);
    const accepted = await daemon.berth(['container', 'prune'], { input: 'y\n' });
    assert.match(accepted.stdout, /^WARNING! .*\[y\/N\] Deleted Containers:\n[0-9a-f]{64}\n\nTotal reclaimed space: /s);
    const none = await daemon.berth(['container', 'prune', '-f']);
    assert.equal(none.stdout, 'Total reclaimed space: 0B\n');
    const bad = await daemon.api('POST', `/containers/prune?filters=${encodeURIComponent('{"status":["exited"]}')}`);
    assert.equal(bad.status, 400);
  });
});
