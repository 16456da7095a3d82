// Pure parts of the lifecycle: restart back-off and decisions, ps output parsing, filters,
// timestamps, the event bus and its filter, docker's template functions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EVENT_FILTERS, eventMatches } from '../../src/api/events.js';
import { Filters, parseGoDuration, parseTimestamp } from '../../src/api/filters.js';
import { initialState, type ContainerRecord } from '../../src/containers/model.js';
import { BACKOFF_MAX_MS, RestartTracker, restartsAtBoot, validateRestartPolicy } from '../../src/containers/restart.js';
import { signalNumber } from '../../src/containers/signals.js';
import { parsePsOutput } from '../../src/containers/top.js';
import { EventBus } from '../../src/events/bus.js';
import { execTemplate } from '../../src/cli/template.js';
import { prettyEvent, rfc3339NanoFixed } from '../../src/cli/commands/events.js';
import { timeArg } from '../../src/cli/commands/logs.js';

function record(policy: string, max = 0, extra: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id: 'a'.repeat(64), name: 'x', created: new Date().toISOString(), path: 'sh', args: [], image: 'busybox', imageId: 'sha256:1', chainIds: [],
    config: {}, hostConfig: { RestartPolicy: { Name: policy, MaximumRetryCount: max } }, state: initialState(), restartCount: 0, logPath: '/dev/null', ...extra,
  };
}

describe('restart policies', () => {
  test('back-off: 100 ms doubling to a minute, reset after 10 s of running', () => {
    const t = new RestartTracker();
    const c = record('always');
    const delays = Array.from({ length: 12 }, () => t.onExit(c, 0, 50).delayMs);
    assert.deepEqual(delays.slice(0, 4), [100, 200, 400, 800]);
    assert.equal(delays[11], BACKOFF_MAX_MS);
    assert.equal(t.onExit(c, 0, 10_000).delayMs, 100);
  });

  test('decisions per policy; cancel stops the loop; reset starts over', () => {
    const t = new RestartTracker();
    assert.equal(t.onExit(record('no'), 1, 0).restart, false);
    assert.equal(t.onExit(record('on-failure'), 0, 0).restart, false);
    assert.equal(t.onExit(record('on-failure', 2, { restartCount: 1 }), 1, 0).restart, true);
    assert.equal(t.onExit(record('on-failure', 2, { restartCount: 2 }), 1, 0).restart, false);
    assert.equal(t.onExit(record('unless-stopped', 0, { hasBeenManuallyStopped: true }), 0, 0).restart, false);
    const c = record('always');
    t.cancel(c.id);
    assert.equal(t.onExit(c, 0, 0).restart, false);
    t.reset(c.id);
    assert.equal(t.onExit(c, 0, 0).restart, true);
  });

  test('restarts at daemon start', () => {
    const ran = { ...initialState(), Status: 'exited' as const, StartedAt: '2026-01-01T00:00:00Z' };
    assert.equal(restartsAtBoot(record('always', 0, { state: ran, hasBeenManuallyStopped: true })), true);
    assert.equal(restartsAtBoot(record('unless-stopped', 0, { state: ran, hasBeenManuallyStopped: true })), false);
    assert.equal(restartsAtBoot(record('unless-stopped', 0, { state: ran })), true);
    assert.equal(restartsAtBoot(record('always')), false, 'never started');
    assert.equal(restartsAtBoot(record('no', 0, { state: ran })), false);
  });

  test('validation', () => {
    assert.deepEqual(validateRestartPolicy({}), { Name: 'no', MaximumRetryCount: 0 });
    assert.throws(() => validateRestartPolicy({ RestartPolicy: { Name: 'never' } }), /unknown policy 'never'/);
    assert.throws(() => validateRestartPolicy({ RestartPolicy: { Name: 'always', MaximumRetryCount: 1 } }), /only be used with 'on-failure'/);
    assert.throws(() => validateRestartPolicy({ RestartPolicy: { Name: 'always' }, AutoRemove: true }), /AutoRemove/);
  });
});

test('signals by name and number', () => {
  assert.equal(signalNumber('SIGTERM'), 15);
  assert.equal(signalNumber('kill'), 9);
  assert.equal(signalNumber('10'), 10);
  assert.equal(signalNumber('SIGRTMIN+1'), 35);
  assert.throws(() => signalNumber('NOPE'), /Invalid signal: NOPE/);
});

test('ps output: titles, the last column keeps spaces, thread lines follow their process', () => {
  const out = 'UID PID PPID CMD\nroot 10 1 sleep 300\nroot 11 1 other thing\nroot - - -\nroot 12 10 sh -c x\nroot - - -\n';
  const r = parsePsOutput(out, new Set([10, 12]));
  assert.deepEqual(r.Titles, ['UID', 'PID', 'PPID', 'CMD']);
  assert.deepEqual(r.Processes, [['root', '10', '1', 'sleep 300'], ['root', '12', '10', 'sh -c x'], ['root', '-', '-', '-']]);
});

describe('filters and times', () => {
  test('map and list forms; unknown keys are refused; labels', () => {
    const f = Filters.parse('{"label":{"a=1":true,"b":true},"status":["exited"]}', ['label', 'status']);
    assert.deepEqual(f.get('status'), ['exited']);
    assert.equal(f.matchLabels('label', { a: '1', b: '' }), true);
    assert.equal(f.matchLabels('label', { a: '2', b: '' }), false);
    assert.throws(() => Filters.parse('{"x":["y"]}', ['label']), /invalid filter 'x'/);
    assert.throws(() => Filters.parse('nope', ['label']), /invalid filter/);
    const neg = Filters.parse('{"label!":["a"]}', ['label', 'label!']);
    assert.equal(neg.matchLabels('label', { a: '1' }), false);
    assert.equal(neg.matchLabels('label', {}), true);
  });

  test('timestamps: unix with nanoseconds, RFC 3339, durations', () => {
    assert.equal(parseTimestamp('1700000000.000000001', 'since'), 1_700_000_000_000_000_001n);
    assert.equal(parseTimestamp('2026-01-01T00:00:01.5Z', 'since'), BigInt(Date.parse('2026-01-01T00:00:01Z')) * 1_000_000n + 500_000_000n);
    assert.equal(parseTimestamp('10m', 'since', 1_000_000), 400_000n * 1_000_000n);
    assert.equal(parseGoDuration('1h30m'), 5_400_000);
    assert.throws(() => parseTimestamp('later', 'until'), /failed to parse/);
    assert.equal(timeArg('2026-01-01T00:00:01.000000007Z'), `${Date.parse('2026-01-01T00:00:01Z') / 1000}.000000007`);
  });
});

describe('event bus', () => {
  test('messages in docker\'s shape, strictly increasing, replayed by time', () => {
    const bus = new EventBus(3);
    const seen: string[] = [];
    const off = bus.subscribe((m) => seen.push(m.Action));
    const a = bus.emit('container', 'create', { ID: 'abc', Attributes: { image: 'busybox', name: 'n' } });
    assert.equal(a.status, 'create');
    assert.equal(a.id, 'abc');
    assert.equal(a.from, 'busybox');
    assert.equal(a.scope, 'local');
    assert.equal(a.time, Math.floor(a.timeNano / 1e9));
    for (const x of ['start', 'die', 'destroy']) bus.emit('container', x, { ID: 'abc' });
    off();
    bus.emit('network', 'connect', { ID: 'net' });
    assert.deepEqual(seen, ['create', 'start', 'die', 'destroy']);
    const kept = bus.replay(0n);
    assert.deepEqual(kept.map((m) => m.Action), ['die', 'destroy', 'connect'], 'the ring keeps the newest');
    assert.ok(kept[0].timeNano < kept[1].timeNano);
    assert.equal(kept[2].status, undefined);
    assert.deepEqual(bus.replay(BigInt(kept[1].timeNano), BigInt(kept[1].timeNano)).map((m) => m.Action), ['destroy']);
  });

  test('filters: type, event, container by name or ID prefix, image, label', () => {
    const bus = new EventBus();
    const m = bus.emit('container', 'health_status: healthy', { ID: 'abcdef', Attributes: { image: 'busybox:latest', name: 'web', tier: 'front' } });
    const f = (o: Record<string, string[]>) => Filters.parse(JSON.stringify(o), EVENT_FILTERS);
    assert.equal(eventMatches(f({ event: ['health_status'] }), m), true);
    assert.equal(eventMatches(f({ type: ['image'] }), m), false);
    assert.equal(eventMatches(f({ container: ['web'] }), m), true);
    assert.equal(eventMatches(f({ container: ['abc'] }), m), true);
    assert.equal(eventMatches(f({ container: ['other'] }), m), false);
    assert.equal(eventMatches(f({ image: ['busybox'] }), m), true);
    assert.equal(eventMatches(f({ label: ['tier=front'] }), m), true);
    assert.equal(eventMatches(f({ label: ['tier=back'] }), m), false);
  });

  test('docker\'s line format', () => {
    // A JSON number this large is exact only in steps of 256 ns in JavaScript; this one is exact.
    const line = prettyEvent({ Type: 'container', Action: 'die', Actor: { ID: 'abc', Attributes: { name: 'n', exitCode: '0' } }, timeNano: 1_700_000_000_000_000_000 });
    assert.equal(line, `${rfc3339NanoFixed(1_700_000_000_000_000_000n)} container die abc (exitCode=0, name=n)\n`);
    assert.equal(rfc3339NanoFixed(1_700_000_000_000_000_005n, 0), '2023-11-14T22:13:20.000000005Z');
    assert.equal(rfc3339NanoFixed(1_700_000_000_000_000_005n, 60), '2023-11-14T23:13:20.000000005+01:00');
  });
});

test('docker\'s template functions', () => {
  const data = { Cmd: ['sh', '-c', 'x y'], Name: '/hello', Csv: 'a,b', Labels: { k: 'v' } };
  assert.equal(execTemplate('{{join .Cmd " "}}', data), 'sh -c x y');
  assert.equal(execTemplate('{{split .Csv ","}}', data), '[a b]');
  assert.equal(execTemplate('{{truncate .Name 3}}|{{pad .Name 1 2}}|{{upper .Name}}', data), '/he| /hello  |/HELLO');
  assert.equal(execTemplate('{{.Labels.k}} {{json .Labels}} {{len .Cmd}}', data), 'v {"k":"v"} 3');
});
