// Login, credentials and TLS against real registries: a docker-registry serving https with a CA
// and a server certificate made here (IP SAN 127.0.0.1), requiring a client certificate, with
// htpasswd auth; berthd finds the CA and client certificate in its --certs-dir. The docker CLI's
// login/push/pull and berth's login/logout/push/pull share one $DOCKER_CONFIG; a credential
// helper (docker-credential-<name> on PATH) holds secrets when credsStore names it. A token server
// that grants only pull makes pushes fail with the registry's words. SIGHUP reloads daemon.json.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { pushBusybox } from '../fixtures/images.js';
import { BASIC_PASSWORD, BASIC_USERNAME, startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { TestDaemon } from './harness.js';
import { skopeoDigest } from './push-helpers.js';

const execFileAsync = promisify(execFile);

function readConfig(daemon: TestDaemon): Record<string, any> {
  const p = join(daemon.dir, 'docker-config', 'config.json');
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Record<string, any>) : {};
}

function writeConfig(daemon: TestDaemon, cfg: unknown): void {
  mkdirSync(join(daemon.dir, 'docker-config'), { recursive: true });
  writeFileSync(join(daemon.dir, 'docker-config', 'config.json'), JSON.stringify(cfg));
}

/** A docker-credential-<name> helper (node script) keeping secrets in a JSON file next to it. */
function makeCredentialHelper(dir: string, name: string): { bin: string; store: () => Record<string, { Username: string; Secret: string }> } {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const storeFile = join(dir, 'helper-store.json');
  const script = `#!/usr/bin/env node
const fs = require('fs');
const file = ${JSON.stringify(storeFile)};
const load = () => (fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {});
const input = fs.readFileSync(0, 'utf8').trim();
const db = load();
const action = process.argv[2];
if (action === 'store') {
  const c = JSON.parse(input);
  db[c.ServerURL] = { Username: c.Username, Secret: c.Secret };
  fs.writeFileSync(file, JSON.stringify(db));
} else if (action === 'get') {
  if (!db[input]) { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); }
  process.stdout.write(JSON.stringify({ ServerURL: input, ...db[input] }));
} else if (action === 'erase') {
  if (!db[input]) { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); }
  delete db[input];
  fs.writeFileSync(file, JSON.stringify(db));
} else { process.exit(2); }
`;
  const path = join(bin, `docker-credential-${name}`);
  writeFileSync(path, script);
  chmodSync(path, 0o755);
  return { bin, store: () => (existsSync(storeFile) ? JSON.parse(readFileSync(storeFile, 'utf8')) : {}) };
}

describe('TLS registry (private CA, client certificate) with htpasswd', () => {
  let registry: RunningRegistry;
  let daemon: TestDaemon;
  let scratch: string;
  let image: string;

  before(async () => {
    registry = await startRegistry({ auth: 'basic', tls: true, clientAuth: true });
    await pushBusybox(registry.host);
    image = `${registry.host}/library/busybox:latest`;
    scratch = mkdtempSync(join(tmpdir(), 'berth-login-'));
    daemon = new TestDaemon({ args: ['--certs-dir', registry.certsDir!] });
    await daemon.start();
  });
  after(async () => {
    await daemon?.cleanup();
    await registry?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('without credentials a pull is refused; a wrong password is refused and nothing is stored', async () => {
    const anon = await daemon.berth(['pull', image]);
    assert.equal(anon.code, 1);
    assert.match(anon.stderr, /no basic auth credentials|unauthorized/);

    const wrong = await daemon.docker(['login', '-u', BASIC_USERNAME, '--password-stdin', registry.host], { input: 'not-the-password\n' });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /incorrect username or password|unauthorized/);
    assert.equal(readConfig(daemon).auths?.[registry.host], undefined);

    const wrongBerth = await daemon.berth(['login', '-u', BASIC_USERNAME, '--password-stdin', registry.host], { input: 'nope\n' });
    assert.equal(wrongBerth.code, 1);
    assert.match(wrongBerth.stderr, /^Error response from daemon: .*(incorrect username or password|unauthorized)/);
    assert.equal(readConfig(daemon).auths?.[registry.host], undefined);
  });

  test('docker login through berthd stores docker\'s config.json entry; docker push and pull use it', async () => {
    const login = await daemon.docker(['login', '-u', BASIC_USERNAME, '--password-stdin', registry.host], { input: `${BASIC_PASSWORD}\n` });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login Succeeded/);
    const entry = readConfig(daemon).auths?.[registry.host];
    assert.equal(entry?.auth, Buffer.from(`${BASIC_USERNAME}:${BASIC_PASSWORD}`).toString('base64'));

    const pulled = await daemon.docker(['pull', image]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const dst = `${registry.host}/pushed/busybox:tls`;
    assert.equal((await daemon.docker(['tag', image, dst])).code, 0);
    const pushed = await daemon.docker(['push', dst]);
    assert.equal(pushed.code, 0, pushed.stderr);
    const digest = await skopeoDigest(dst);
    assert.match(pushed.stdout, new RegExp(`tls: digest: ${digest} size: \\d+`));
    assert.equal(digest, await skopeoDigest(image), 'the pushed manifest is byte for byte the pulled one');
  });

  test('berth uses the stored credentials; logout removes them; login --password-stdin stores them again', async () => {
    const dst = `${registry.host}/berth/busybox:v1`;
    assert.equal((await daemon.berth(['pull', image])).code, 0);
    assert.equal((await daemon.berth(['tag', image, dst])).code, 0);
    const pushed = await daemon.berth(['push', dst]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /: Mounted from (library|pushed)\/busybox|: Layer already exists/);

    const logout = await daemon.berth(['logout', registry.host]);
    assert.equal(logout.code, 0);
    assert.equal(logout.stdout, `Removing login credentials for ${registry.host}\n`);
    assert.equal(readConfig(daemon).auths?.[registry.host], undefined);
    const refused = await daemon.berth(['push', dst]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /unauthorized|no basic auth credentials/);

    const login = await daemon.berth(['login', '-u', BASIC_USERNAME, '--password-stdin', registry.host], { input: `${BASIC_PASSWORD}\n` });
    assert.equal(login.code, 0, login.stderr);
    assert.equal(login.stdout, 'Login Succeeded\n');
    assert.equal(readConfig(daemon).auths?.[registry.host]?.auth, Buffer.from(`${BASIC_USERNAME}:${BASIC_PASSWORD}`).toString('base64'));
    assert.equal((await daemon.berth(['rmi', dst])).code, 0);
    const again = await daemon.berth(['pull', dst]);
    assert.equal(again.code, 0, again.stderr);
  });

  test('a credential helper (credsStore) holds the secret: config.json keeps none', async () => {
    const helper = makeCredentialHelper(scratch, 'berthtest');
    const env = { PATH: `${helper.bin}:${process.env.PATH}` };
    writeConfig(daemon, { credsStore: 'berthtest', auths: {} });
    const login = await daemon.berth(['login', '-u', BASIC_USERNAME, '--password-stdin', registry.host], { input: `${BASIC_PASSWORD}\n`, env });
    assert.equal(login.code, 0, login.stderr);
    assert.deepEqual(helper.store()[registry.host], { Username: BASIC_USERNAME, Secret: BASIC_PASSWORD });
    assert.deepEqual(readConfig(daemon).auths[registry.host], {});
    assert.doesNotMatch(readFileSync(join(daemon.dir, 'docker-config', 'config.json'), 'utf8'), new RegExp(BASIC_PASSWORD));

    const dst = `${registry.host}/helper/busybox:v1`;
    assert.equal((await daemon.berth(['tag', image, dst])).code, 0);
    const pushed = await daemon.berth(['push', dst], { env });
    assert.equal(pushed.code, 0, pushed.stderr);

    // The docker CLI reads the same helper.
    const dockerPull = await daemon.docker(['pull', dst], { env });
    assert.equal(dockerPull.code, 0, dockerPull.stderr);

    const logout = await daemon.berth(['logout', registry.host], { env });
    assert.equal(logout.code, 0, logout.stderr);
    assert.equal(helper.store()[registry.host], undefined);
    writeConfig(daemon, {});
  });

  test('a CA that did not sign the registry\'s certificate is refused', async () => {
    const certs = join(scratch, 'other-certs.d');
    const hostDir = join(certs, registry.host);
    mkdirSync(hostDir, { recursive: true });
    await execFileAsync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=other-ca',
      '-keyout', join(scratch, 'other.key'), '-out', join(hostDir, 'ca.crt')]);
    const other = new TestDaemon({ args: ['--certs-dir', certs] });
    try {
      await other.start();
      const r = await other.berth(['pull', image]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /certificate/i);
    } finally {
      await other.cleanup();
    }
  });
});

describe('a loopback registry speaking TLS without a certs.d entry', () => {
  let registry: RunningRegistry;
  let daemon: TestDaemon;
  before(async () => {
    registry = await startRegistry({ tls: true });
    await pushBusybox(registry.host);
    daemon = new TestDaemon();
    await daemon.start();
  });
  after(async () => {
    await daemon?.cleanup();
    await registry?.stop();
  });

  test('is reached over https without certificate checks (loopback is insecure), as docker does', async () => {
    const image = `${registry.host}/library/busybox:latest`;
    const pulled = await daemon.berth(['pull', image]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const dst = `${registry.host}/again/busybox:v1`;
    assert.equal((await daemon.berth(['tag', image, dst])).code, 0);
    const pushed = await daemon.berth(['push', dst]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(await skopeoDigest(dst), await skopeoDigest(image));
  });
});

describe('token auth that grants only pull', () => {
  let registry: RunningRegistry;
  let daemon: TestDaemon;

  before(async () => {
    registry = await startRegistry({ auth: 'token' });
    await pushBusybox(registry.host);
    registry.setTokenActions(['pull']);
    daemon = new TestDaemon();
    await daemon.start();
  });
  after(async () => {
    await daemon?.cleanup();
    await registry?.stop();
  });

  test('login and pull work, push is refused with the registry\'s message', async () => {
    const login = await daemon.docker(['login', '-u', registry.username!, '--password-stdin', registry.host], { input: registry.password! });
    assert.equal(login.code, 0, login.stderr);
    const image = `${registry.host}/library/busybox:latest`;
    assert.equal((await daemon.berth(['pull', image])).code, 0);
    const dst = `${registry.host}/mine/busybox:latest`;
    assert.equal((await daemon.berth(['tag', image, dst])).code, 0);
    const berthPush = await daemon.berth(['push', dst]);
    assert.equal(berthPush.code, 1);
    assert.match(berthPush.stderr, /^(unauthorized: authentication required|denied: requested access to the resource is denied)/m);
    const dockerPush = await daemon.docker(['push', dst]);
    assert.equal(dockerPush.code, 1);
    assert.match(dockerPush.stderr, /unauthorized: authentication required|denied: requested access to the resource is denied/);
    const manifest = await fetch(`${registry.url}/v2/mine/busybox/manifests/latest`);
    assert.notEqual(manifest.status, 200);
  });
});

describe('SIGHUP reloads daemon.json', () => {
  let daemon: TestDaemon;
  before(async () => {
    daemon = new TestDaemon({ mirrors: ['http://127.0.0.1:5999'], insecureRegistries: ['old.example:5000'], logLevel: null, extraConfig: { 'log-level': 'debug' } });
    await daemon.start();
  });
  after(async () => {
    await daemon?.cleanup();
  });

  async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}\n${daemon.log().slice(-2000)}`);
  }

  test('registry-mirrors, insecure-registries and log-level change live; an invalid file changes nothing', async () => {
    const info0 = (await daemon.api('GET', '/info')).body;
    assert.deepEqual(info0.RegistryConfig.Mirrors, ['http://127.0.0.1:5999']);
    assert.equal(info0.Debug, true);

    writeFileSync(daemon.configFile, JSON.stringify({
      'registry-mirrors': ['http://127.0.0.1:6001'],
      'insecure-registries': ['new.example:5000', '10.9.0.0/16'],
      'log-level': 'warn',
    }));
    daemon.signal('SIGHUP');
    await waitFor(async () => (await daemon.api('GET', '/info')).body.RegistryConfig.Mirrors[0] === 'http://127.0.0.1:6001', 'the reload');
    const info = (await daemon.api('GET', '/info')).body;
    assert.ok(info.RegistryConfig.IndexConfigs['new.example:5000']);
    assert.equal(info.RegistryConfig.IndexConfigs['old.example:5000'], undefined);
    assert.ok(info.RegistryConfig.InsecureRegistryCIDRs.includes('10.9.0.0/16'));
    assert.equal(info.Debug, false);
    const cli = await daemon.berth(['info']);
    assert.match(cli.stdout, / Registry Mirrors:\n  http:\/\/127\.0\.0\.1:6001\n/);
    assert.match(cli.stdout, /new\.example:5000/);

    writeFileSync(daemon.configFile, '{"registry-mirrors": [');
    daemon.signal('SIGHUP');
    await waitFor(async () => /error reloading the configuration/.test(daemon.log()), 'the error in the log');
    writeFileSync(daemon.configFile, JSON.stringify({ 'no-such-key': true }));
    daemon.signal('SIGHUP');
    await waitFor(async () => (daemon.log().match(/error reloading the configuration/g) ?? []).length >= 2, 'the second error');
    assert.match(daemon.log(), /no-such-key/);
    const still = (await daemon.api('GET', '/info')).body;
    assert.deepEqual(still.RegistryConfig.Mirrors, ['http://127.0.0.1:6001']);
    assert.equal((await daemon.api('GET', '/_ping')).status, 200);
  });
});
