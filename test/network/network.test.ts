// Unit tests of the network parts that need no daemon: subnet arithmetic, port specs and
// allocation, docker's /etc files, and the per-network name server answering real DNS queries.
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parsePorts } from '../../src/cli/commands/run.js';
import { parseDaemonArgs } from '../../src/daemon/config.js';
import { NetworkDnsServer } from '../../src/network/dns.js';
import { hostsText, parseExtraHosts, parseResolvConf, resolvConfText } from '../../src/network/etc.js';
import { allocateSubnet, parseBip, parseCidr, cidrString } from '../../src/network/model.js';
import { allocatePorts, portMap, wantedPorts } from '../../src/network/ports.js';

describe('subnets', () => {
  test('bip is the gateway address and the prefix', () => {
    assert.deepEqual(parseBip('10.199.0.1/16'), { subnet: '10.199.0.0/16', gateway: '10.199.0.1' });
    assert.deepEqual(parseBip('192.168.5.0/24'), { subnet: '192.168.5.0/24', gateway: '192.168.5.1' });
    assert.throws(() => parseBip('10.1.2.300/24'), /invalid/);
  });

  test('pools are carved in order around taken ranges', () => {
    const pools = [{ base: '10.200.0.0/16', size: 24 }];
    assert.equal(allocateSubnet(pools, []), '10.200.0.0/24');
    assert.equal(allocateSubnet(pools, [parseCidr('10.200.0.0/23')]), '10.200.2.0/24');
    assert.equal(allocateSubnet([{ base: '10.9.0.0/30', size: 30 }], [parseCidr('10.9.0.0/30')]), undefined);
    assert.equal(cidrString(parseCidr('10.1.2.3/8')), '10.0.0.0/8');
  });

  test('daemon flags and daemon.json keys: bridge, bip, default-address-pools', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-netcfg-'));
    const file = join(dir, 'daemon.json');
    try {
      writeFileSync(file, '{}');
      const defaults = parseDaemonArgs(['--config-file', file]).config;
      assert.equal(defaults.bridge, 'berth0');
      assert.equal(defaults.bip, '10.199.0.1/16');
      assert.deepEqual(defaults.defaultAddressPools, [{ base: '10.200.0.0/16', size: 24 }]);
      const flags = parseDaemonArgs(['--config-file', file, '-b', 'bt1', '--bip', '10.5.0.1/24']).config;
      assert.equal(flags.bridge, 'bt1');
      assert.equal(flags.bip, '10.5.0.1/24');
      writeFileSync(file, JSON.stringify({ bridge: 'bt2', bip: '10.6.0.1/24', 'default-address-pools': [{ base: '10.7.0.0/16', size: 26 }] }));
      const fromFile = parseDaemonArgs(['--config-file', file]).config;
      assert.deepEqual([fromFile.bridge, fromFile.bip, fromFile.defaultAddressPools], ['bt2', '10.6.0.1/24', [{ base: '10.7.0.0/16', size: 26 }]]);
      assert.throws(() => parseDaemonArgs(['--config-file', file, '--bip', '10.8.0.1/24']), /both as a flag and in the configuration file: bip/);
      writeFileSync(file, JSON.stringify({ 'default-address-pools': [{ base: '10.7.0.0/16', size: 8 }] }));
      assert.throws(() => parseDaemonArgs(['--config-file', file]), /default-address-pools/);
      writeFileSync(file, '{}');
      assert.throws(() => parseDaemonArgs(['--config-file', file, '--bip', '10.5.0.1']), /invalid bip/);
      assert.throws(() => parseDaemonArgs(['--config-file', file, '--bridge', 'a-name-far-too-long']), /invalid bridge name/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('published ports', () => {
  test('-p forms: ip, ranges, random, protocol', () => {
    assert.deepEqual(parsePorts(['8080:80']).bindings, { '80/tcp': [{ HostIp: '', HostPort: '8080' }] });
    assert.deepEqual(parsePorts(['127.0.0.1::53/udp']).bindings, { '53/udp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
    assert.deepEqual(parsePorts(['80']).bindings, { '80/tcp': [{ HostIp: '', HostPort: '' }] });
    assert.deepEqual(parsePorts(['8000-8001:80-81']).bindings, {
      '80/tcp': [{ HostIp: '', HostPort: '8000' }],
      '81/tcp': [{ HostIp: '', HostPort: '8001' }],
    });
    assert.deepEqual(parsePorts(['9000-9009:80']).bindings, { '80/tcp': [{ HostIp: '', HostPort: '9000-9009' }] });
    assert.throws(() => parsePorts(['8000-8002:80-81']), /invalid ranges/);
    assert.throws(() => parsePorts(['70000:80']), /invalid hostPort/);
    assert.throws(() => parsePorts(['80/xyz']), /invalid proto/);
  });

  test('-P publishes every exposed port that has no binding', () => {
    const w = wantedPorts({ '80/tcp': [{ HostIp: '', HostPort: '8080' }] }, true, { '80/tcp': {}, '443/tcp': {} });
    assert.deepEqual(w.map((p) => `${p.containerPort}:${p.hostPort}`), ['80:8080', '443:0']);
  });

  test('allocation: random ports, clashes with berth and with host listeners', async () => {
    const [m] = await allocatePorts([{ containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 0 }], []);
    assert.ok(m.hostPort >= 49153 && m.hostPort <= 60999);
    assert.equal(m.hostIP, '127.0.0.1');
    await assert.rejects(
      allocatePorts([{ containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: m.hostPort }], [m]),
      /Bind for 0\.0\.0\.0:\d+ failed: port is already allocated/,
    );
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const busy = (srv.address() as { port: number }).port;
    try {
      await assert.rejects(allocatePorts([{ containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: busy }], []), /address already in use/);
    } finally {
      srv.close();
    }
    assert.deepEqual(portMap([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], { '80/tcp': {}, '81/tcp': {} }), {
      '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }],
      '81/tcp': null,
    });
  });
});

describe('/etc files', () => {
  test("resolv.conf: the host's servers minus loopback, docker's fallback, --dns/--dns-search, the network's server", () => {
    const host = parseResolvConf('# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.test\noptions edns0\n');
    assert.equal(resolvConfText(host, { dns: [], dnsSearch: [], dnsOptions: [] }), 'nameserver 10.0.0.2\nsearch corp.test\noptions edns0\n');
    assert.match(resolvConfText(parseResolvConf('nameserver 127.0.0.1\n'), { dns: [], dnsSearch: [], dnsOptions: [] }), /^nameserver 8\.8\.8\.8\nnameserver 8\.8\.4\.4\n$/);
    assert.equal(resolvConfText(host, { dns: ['1.1.1.1'], dnsSearch: ['a.test'], dnsOptions: ['ndots:2'] }), 'nameserver 1.1.1.1\nsearch a.test\noptions ndots:2\n');
    const embedded = resolvConfText(host, { dns: [], dnsSearch: [], dnsOptions: [], embeddedServer: '10.214.0.1' });
    assert.match(embedded, /^nameserver 10\.214\.0\.1\nsearch corp\.test\n/);
    assert.doesNotMatch(embedded, /^nameserver 10\.0\.0\.2/m);
  });

  test('hosts: defaults, --add-host (host-gateway), the container address and hostname', () => {
    const extra = parseExtraHosts(['db:10.1.1.1', 'gw:host-gateway', 'v6=[::1]'], '10.199.0.1');
    assert.deepEqual(extra, [{ name: 'db', ip: '10.1.1.1' }, { name: 'gw', ip: '10.199.0.1' }, { name: 'v6', ip: '::1' }]);
    assert.throws(() => parseExtraHosts(['nohost'], '10.199.0.1'), /invalid IP address in add-host/);
    const text = hostsText({ extraHosts: extra.slice(0, 1), ip: '10.199.0.5', hostname: 'abc' });
    assert.equal(text.split('\n')[0], '127.0.0.1\tlocalhost');
    assert.match(text, /^10\.1\.1\.1\tdb\n10\.199\.0\.5\tabc\n$/m);
  });
});

describe('network name server', () => {
  test('answers names on the network, empty answers for other types of known names, forwards the rest upstream', async () => {
    // The "upstream" is a server of our own on loopback, so nothing leaves the machine.
    const upPort = 20000 + Math.floor(Math.random() * 20000);
    const up = new NetworkDnsServer('127.0.0.1', { lookup: (n) => (n === 'outside.test' ? ['192.0.2.7'] : undefined), upstreams: () => [] }, upPort);
    await up.start();
    const port = upPort + 1;
    const server = new NetworkDnsServer(
      '127.0.0.1',
      { lookup: (n) => (n === 'web' || n === 'web.appnet' ? ['10.214.0.2', '10.214.0.3'] : undefined), upstreams: () => [`127.0.0.1:${upPort}`] },
      port,
    );
    await server.start();
    try {
      const r = new Resolver({ timeout: 2000, tries: 1 });
      r.setServers([`127.0.0.1:${port}`]);
      assert.deepEqual((await r.resolve4('web')).sort(), ['10.214.0.2', '10.214.0.3']);
      assert.deepEqual((await r.resolve4('WEB.appnet')).sort(), ['10.214.0.2', '10.214.0.3']);
      await assert.rejects(r.resolve6('web'), (e: NodeJS.ErrnoException) => e.code === 'ENODATA');
      assert.deepEqual(await r.resolve4('outside.test'), ['192.0.2.7'], 'forwarded upstream');
      // The upstream knows nothing more and has no upstream itself: SERVFAIL, not a made-up answer.
      await assert.rejects(r.resolve4('unknown.test'), (e: NodeJS.ErrnoException) => e.code === 'ESERVFAIL');
    } finally {
      server.close();
      up.close();
    }
  });
});
