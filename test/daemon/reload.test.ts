// SIGHUP reload of daemon.json (reloadConfig) and the --certs-dir flag.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseDaemonArgs } from '../../src/daemon/config.js';
import { reloadConfig } from '../../src/daemon/reload.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-reload-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const configFile = join(dir, 'daemon.json');

function setup(args: string[], content: unknown) {
  writeFileSync(configFile, JSON.stringify(content));
  const { config } = parseDaemonArgs(['--config-file', configFile, ...args]);
  const applied: Array<{ mirrors?: string[]; insecureRegistries?: string[] }> = [];
  return { daemon: { config, registry: { reconfigure: (u: (typeof applied)[number]) => applied.push(u) } }, applied };
}

test('--certs-dir sets where registry CAs and client certificates are looked for', () => {
  writeFileSync(configFile, '{}');
  const { config } = parseDaemonArgs(['--config-file', configFile, '--certs-dir', '/tmp/x/certs.d']);
  assert.equal(config.certsDir, '/tmp/x/certs.d');
});

test('a reload applies mirrors, insecure registries and log level; dropped keys go back to defaults', () => {
  const { daemon, applied } = setup([], { 'registry-mirrors': ['http://127.0.0.1:1'], 'insecure-registries': ['a:1'], 'log-level': 'warn' });
  writeFileSync(configFile, JSON.stringify({ 'registry-mirrors': ['http://127.0.0.1:2'] }));
  assert.equal(reloadConfig(daemon), true);
  assert.deepEqual(daemon.config.registryMirrors, ['http://127.0.0.1:2']);
  assert.deepEqual(daemon.config.insecureRegistries, []);
  assert.equal(daemon.config.logLevel, 'info');
  assert.deepEqual(applied, [{ mirrors: ['http://127.0.0.1:2'], insecureRegistries: [] }]);
});

test('an invalid file, an unknown key or a key also given as a flag changes nothing', () => {
  const { daemon, applied } = setup(['--log-level', 'error'], { 'registry-mirrors': ['http://127.0.0.1:1'] });
  for (const bad of ['{"registry-mirrors": [', '{"no-such-key": 1}', '{"registry-mirrors": "not a list"}', '{"log-level": "warn"}']) {
    writeFileSync(configFile, bad);
    assert.equal(reloadConfig(daemon), false, bad);
  }
  assert.deepEqual(daemon.config.registryMirrors, ['http://127.0.0.1:1']);
  assert.equal(daemon.config.logLevel, 'error');
  assert.deepEqual(applied, []);
  // The flag's value survives a valid reload.
  writeFileSync(configFile, '{}');
  assert.equal(reloadConfig(daemon), true);
  assert.equal(daemon.config.logLevel, 'error');
  assert.deepEqual(daemon.config.registryMirrors, []);
});
