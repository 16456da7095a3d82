// The pure parts of exec/attach/healthchecks: detach keys, Go durations, healthcheck flags and
// the command a healthcheck runs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { probeCommand } from '../../src/containers/health.js';
import { parseDetachKeys } from '../../src/containers/stdio.js';
import { healthcheckFromOptions, parseGoDuration } from '../../src/cli/health-flags.js';

test("detach keys: docker's default and its key syntax", () => {
  assert.deepEqual([...parseDetachKeys(undefined)], [0x10, 0x11]);
  assert.deepEqual([...parseDetachKeys('')], [0x10, 0x11]);
  assert.deepEqual([...parseDetachKeys('ctrl-a,x')], [0x01, 0x78]);
  assert.deepEqual([...parseDetachKeys('ctrl-@,ctrl-[')], [0x00, 0x1b]);
  assert.throws(() => parseDetachKeys('ctrl-'), /Invalid detach keys \(ctrl-\) provided/);
  assert.throws(() => parseDetachKeys('shift-a'), /Invalid detach keys/);
});

test("Go durations as docker's CLI parses them", () => {
  assert.equal(parseGoDuration('1s'), 1e9);
  assert.equal(parseGoDuration('500ms'), 5e8);
  assert.equal(parseGoDuration('1m30s'), 90e9);
  assert.equal(parseGoDuration('1.5h'), 5400e9);
  assert.equal(parseGoDuration('0'), 0);
  assert.equal(parseGoDuration('-2s'), -2e9);
  assert.throws(() => parseGoDuration('10'), /missing unit in duration "10"/);
  assert.throws(() => parseGoDuration('soon'), /invalid duration "soon"/);
  assert.throws(() => parseGoDuration(''), /invalid duration/);
});

test('healthcheck flags become the create body Healthcheck', () => {
  assert.equal(healthcheckFromOptions({}), undefined);
  assert.deepEqual(healthcheckFromOptions({ noHealthcheck: true }), { Test: ['NONE'] });
  assert.deepEqual(healthcheckFromOptions({ healthCmd: 'curl -f x', healthInterval: '2s', healthRetries: 4 }), {
    Test: ['CMD-SHELL', 'curl -f x'],
    Interval: 2e9,
    Timeout: 0,
    StartPeriod: 0,
    StartInterval: 0,
    Retries: 4,
  });
  // Only a field: the image's test applies (Test left out), as docker's CLI sends it.
  assert.equal(healthcheckFromOptions({ healthRetries: 7 })?.Test, undefined);
  assert.throws(() => healthcheckFromOptions({ noHealthcheck: true, healthTimeout: '1s' }), /--no-healthcheck conflicts with --health-\* options/);
  assert.throws(() => healthcheckFromOptions({ healthStartPeriod: '-1s' }), /--health-start-period cannot be negative/);
  assert.throws(() => healthcheckFromOptions({ healthRetries: -1 }), /--health-retries cannot be negative/);
});

test('the command a healthcheck runs', () => {
  assert.deepEqual(probeCommand({ Test: ['CMD', 'true', 'x'] }), ['true', 'x']);
  assert.deepEqual(probeCommand({ Test: ['CMD-SHELL', 'test -e /ok'] }), ['/bin/sh', '-c', 'test -e /ok']);
  assert.deepEqual(probeCommand({ Test: ['CMD-SHELL', 'x'] }, ['/bin/ash', '-eo']), ['/bin/ash', '-eo', 'x']);
  assert.equal(probeCommand({ Test: ['NONE'] }), undefined);
  assert.equal(probeCommand({ Test: [] }), undefined);
  assert.equal(probeCommand(null), undefined);
  assert.equal(probeCommand({ Test: ['CMD'] }), undefined);
});
