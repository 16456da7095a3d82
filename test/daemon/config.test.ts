import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseDaemonArgs } from '../../src/daemon/config.js';

describe('berthd configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string) => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };

  test('defaults follow the design: /var/lib/berth, /run/berth, the root-only socket', () => {
    const { config } = parseDaemonArgs(['--config-file', file('empty.json', '{}')]);
    assert.equal(config.dataRoot, '/var/lib/berth');
    assert.equal(config.execRoot, '/run/berth');
    assert.deepEqual(config.hosts, ['unix:///run/berth/berth.sock']);
    assert.equal(config.liveRestore, true);
  });

  test('dockerd flags override defaults; the pidfile follows a custom exec root', () => {
    const { config } = parseDaemonArgs([
      '--config-file', file('e.json', '{}'), '-H', 'unix:///tmp/x.sock', '--data-root', '/d', '--exec-root', '/e', '-l', 'debug',
    ]);
    assert.deepEqual(config.hosts, ['unix:///tmp/x.sock']);
    assert.equal(config.dataRoot, '/d');
    assert.equal(config.execRoot, '/e');
    assert.equal(config.pidfile, '/e/berthd.pid');
    assert.equal(config.logLevel, 'debug');
  });

  test('daemon.json keys are docker\'s', () => {
    const p = file('d.json', JSON.stringify({ 'registry-mirrors': ['http://127.0.0.1:5000'], 'insecure-registries': ['127.0.0.1:5000'], 'live-restore': false }));
    const { config } = parseDaemonArgs(['--config-file', p]);
    assert.deepEqual(config.registryMirrors, ['http://127.0.0.1:5000']);
    assert.deepEqual(config.insecureRegistries, ['127.0.0.1:5000']);
    assert.equal(config.liveRestore, false);
  });

  test('log-driver and log-opts: berth\'s rotation defaults under them; bad values stop the daemon', () => {
    assert.deepEqual(parseDaemonArgs(['--config-file', file('l0.json', '{}')]).config.logConfig, { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } });
    const p = file('l1.json', JSON.stringify({ 'log-driver': 'json-file', 'log-opts': { 'max-size': '5k' } }));
    assert.deepEqual(parseDaemonArgs(['--config-file', p]).config.logConfig, { Type: 'json-file', Config: { 'max-size': '5k', 'max-file': '3' } });
    const bad = file('l2.json', JSON.stringify({ 'log-opts': { 'max-file': '0' } }));
    assert.throws(() => parseDaemonArgs(['--config-file', bad]), /failed to set log opts: failed to initialize logging driver: max-file cannot be less than 1/);
    const notStrings = file('l3.json', JSON.stringify({ 'log-opts': { 'max-file': 3 } }));
    assert.throws(() => parseDaemonArgs(['--config-file', notStrings]), /"log-opts" must be an object of strings/);
    const flags = parseDaemonArgs(['--config-file', file('l5.json', '{}'), '--log-opt', 'max-size=1m', '--log-opt', 'max-file=2']).config;
    assert.deepEqual(flags.logConfig, { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } });
    const driver = file('l4.json', JSON.stringify({ 'log-driver': 'gelf' }));
    assert.throws(() => parseDaemonArgs(['--config-file', driver]), /no log driver named 'gelf' is registered/);
  });

  test('unknown keys, wrong types, bad JSON and flag/file conflicts are clear errors', () => {
    assert.throws(() => parseDaemonArgs(['--config-file', file('u.json', '{"no-such-key": 1}')]), /don't match any configuration option: no-such-key/);
    assert.throws(() => parseDaemonArgs(['--config-file', file('t.json', '{"registry-mirrors": "x"}')]), /"registry-mirrors" must be a list of strings/);
    assert.throws(() => parseDaemonArgs(['--config-file', file('b.json', '{oops')]), /unable to configure the berth daemon with file/);
    const both = file('both.json', '{"data-root": "/x"}');
    assert.throws(() => parseDaemonArgs(['--config-file', both, '--data-root', '/y']), /specified both as a flag and in the configuration file: data-root/);
    assert.throws(() => parseDaemonArgs(['--config-file', join(dir, 'missing.json')]), /unable to configure/);
    assert.throws(() => parseDaemonArgs(['--bogus']), /Unknown option '--bogus'/);
    assert.throws(() => parseDaemonArgs(['--config-file', file('e2.json', '{}'), '-l', 'loud']), /unable to parse logging level: loud/);
  });

  test('runtimes and default-runtime: daemon.json as dockerd reads them, --add-runtime and --default-runtime flags', () => {
    const p = file('rt.json', JSON.stringify({ runtimes: { fast: { path: '/usr/bin/crun', runtimeArgs: ['--debug'] } }, 'default-runtime': 'fast' }));
    const { config } = parseDaemonArgs(['--config-file', p]);
    assert.deepEqual(config.runtimes, { fast: { path: '/usr/bin/crun', runtimeArgs: ['--debug'] } });
    assert.equal(config.defaultRuntime, 'fast');
    const flags = parseDaemonArgs(['--config-file', file('e2.json', '{}'), '--add-runtime', 'mine=/opt/runc', '--default-runtime', 'runc']).config;
    assert.deepEqual(flags.runtimes, { mine: { path: '/opt/runc' } });
    assert.equal(flags.defaultRuntime, 'runc');
    assert.throws(() => parseDaemonArgs(['--config-file', file('e3.json', '{}'), '--add-runtime', 'nopath']), /invalid runtime argument: nopath/);
    assert.throws(
      () => parseDaemonArgs(['--config-file', file('rt2.json', JSON.stringify({ runtimes: { x: { runtimeArgs: 'no' } } }))]),
      /"runtimes" must be an object of runtimes; "x" needs a "path"/,
    );
  });
});
