// The docker CLI's credential store as berth reads and writes it (config.json, credential
// helpers), and the certs.d reader.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  authHeaderFor,
  encodeAuthHeader,
  eraseCredentials,
  getCredentials,
  INDEX_SERVER,
  serverKey,
  storeCredentials,
} from '../../src/registry/auth-config.js';
import { certsDirFor, tlsConnectOptions } from '../../src/registry/tls.js';

let dir: string;
const saved = { DOCKER_CONFIG: process.env.DOCKER_CONFIG, PATH: process.env.PATH };

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-authcfg-'));
  process.env.DOCKER_CONFIG = join(dir, 'docker');
});
after(() => {
  process.env.DOCKER_CONFIG = saved.DOCKER_CONFIG;
  process.env.PATH = saved.PATH;
  if (saved.DOCKER_CONFIG === undefined) delete process.env.DOCKER_CONFIG;
  rmSync(dir, { recursive: true, force: true });
});

const cfgFile = () => join(dir, 'docker', 'config.json');

test('server keys follow docker: Docker Hub is the index URL, others host[:port]', () => {
  assert.equal(serverKey(undefined), INDEX_SERVER);
  assert.equal(serverKey('docker.io'), INDEX_SERVER);
  assert.equal(serverKey('https://index.docker.io/v1/'), INDEX_SERVER);
  assert.equal(serverKey('https://127.0.0.1:5000/v2/'), '127.0.0.1:5000');
  assert.equal(serverKey('registry.example'), 'registry.example');
});

test('store, read back (also from a URL-shaped key), erase; other keys of config.json survive', () => {
  mkdirSync(join(dir, 'docker'), { recursive: true });
  writeFileSync(cfgFile(), JSON.stringify({ psFormat: 'table {{.ID}}' }));
  assert.equal(storeCredentials('127.0.0.1:5000', { username: 'u', password: 'p:w' }), true);
  const cfg = JSON.parse(readFileSync(cfgFile(), 'utf8'));
  assert.equal(cfg.psFormat, 'table {{.ID}}');
  assert.equal(cfg.auths['127.0.0.1:5000'].auth, Buffer.from('u:p:w').toString('base64'));
  assert.deepEqual(getCredentials('127.0.0.1:5000'), { username: 'u', password: 'p:w', identitytoken: undefined, serveraddress: '127.0.0.1:5000' });

  cfg.auths = { 'https://reg.example/v1/': { auth: Buffer.from('a:b').toString('base64') } };
  writeFileSync(cfgFile(), JSON.stringify(cfg));
  assert.equal(getCredentials('reg.example')?.password, 'b');
  const header = authHeaderFor('reg.example')['X-Registry-Auth'];
  assert.deepEqual(JSON.parse(Buffer.from(header, 'base64url').toString()), { username: 'a', password: 'b', serveraddress: 'reg.example' });
  assert.equal(eraseCredentials('reg.example'), true);
  assert.equal(eraseCredentials('reg.example'), false);
  assert.equal(getCredentials('reg.example'), undefined);
  assert.equal(encodeAuthHeader(undefined), 'e30');
});

test('an unreadable config.json: pulls go on without credentials, as the docker CLI does', () => {
  writeFileSync(cfgFile(), '{not json');
  assert.deepEqual(authHeaderFor('reg.example'), {});
  assert.throws(() => getCredentials('reg.example'), /loading config file/);
  writeFileSync(cfgFile(), '{}');
});

test('credHelpers route one registry to docker-credential-<name>; a missing helper is a clear error', () => {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const store = join(dir, 'store.txt');
  writeFileSync(
    join(bin, 'docker-credential-fake'),
    `#!/bin/sh\ncase "$1" in\n get) read s; if [ -f ${store} ]; then cat ${store}; else echo "credentials not found in native keychain"; exit 1; fi ;;\n store) cat > ${store} ;;\n erase) rm -f ${store} ;;\nesac\n`,
  );
  chmodSync(join(bin, 'docker-credential-fake'), 0o755);
  process.env.PATH = `${bin}:${saved.PATH}`;
  writeFileSync(cfgFile(), JSON.stringify({ credHelpers: { 'helped.example': 'fake' } }));
  assert.equal(getCredentials('helped.example'), undefined);
  assert.equal(storeCredentials('helped.example', { username: 'x', password: 'secret' }), false);
  assert.deepEqual(JSON.parse(readFileSync(store, 'utf8')), { ServerURL: 'helped.example', Username: 'x', Secret: 'secret' });
  assert.deepEqual(JSON.parse(readFileSync(cfgFile(), 'utf8')).auths, { 'helped.example': {} });
  assert.equal(getCredentials('helped.example')?.password, 'secret');
  // Other registries still use config.json.
  storeCredentials('plain.example', { username: 'y', password: 'z' });
  assert.equal(JSON.parse(readFileSync(cfgFile(), 'utf8')).auths['plain.example'].auth, Buffer.from('y:z').toString('base64'));
  assert.equal(eraseCredentials('helped.example'), true);
  assert.equal(getCredentials('helped.example'), undefined);

  writeFileSync(cfgFile(), JSON.stringify({ credsStore: 'nonexistent-helper' }));
  assert.throws(() => getCredentials('any.example'), /docker-credential-nonexistent-helper.*not found in \$PATH/);
});

test('certs.d: *.crt are CAs, a .cert needs its .key', () => {
  const certs = join(dir, 'certs.d');
  const host = join(certs, '127.0.0.1:5443');
  mkdirSync(host, { recursive: true });
  assert.equal(certsDirFor(certs, '127.0.0.1:9999'), undefined);
  assert.equal(certsDirFor(certs, '127.0.0.1:5443'), host);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=t', '-keyout', join(dir, 'k.pem'), '-out', join(host, 'ca.crt')], { stdio: 'ignore' });
  const only = tlsConnectOptions(host);
  assert.ok(only.options.ca!.some((c) => c.includes('BEGIN CERTIFICATE')));
  assert.equal(only.options.cert, undefined);
  writeFileSync(join(host, 'client.cert'), readFileSync(join(host, 'ca.crt')));
  assert.throws(() => tlsConnectOptions(host), /missing key client.key for client certificate client.cert/);
  writeFileSync(join(host, 'client.key'), readFileSync(join(dir, 'k.pem')));
  const both = tlsConnectOptions(host);
  assert.ok(both.options.cert && both.options.key);
  assert.notEqual(both.key, only.key);
});
