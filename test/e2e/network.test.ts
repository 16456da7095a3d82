// Networking end to end: the default bridge, published ports reached from the host, user-defined
// networks where containers find each other by name, isolation, --internal, /etc files, the
// docker CLI's network commands, and no leftovers (veths, netns, iptables rules, leases) after
// each scenario, after a network is removed and after berthd is killed -9.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusybox } from '../fixtures/images.js';
import type { RunningRegistry } from '../fixtures/registry.js';
import { bridgesOf, startStack, type TestDaemon } from './harness.js';

function httpGet(host: string, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** The host's own (non-loopback) IPv4 address. */
function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('10.21')) return a.address;
  }
  throw new Error('no host address');
}

async function retry<T>(fn: () => Promise<T>, tries = 50): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw last;
}

describe('networking', () => {
  let registry: RunningRegistry;
  let daemon: TestDaemon;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  const image = () => `${registry.host}/library/busybox:latest`;
  const httpd = (text: string) => ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`];
  const docker = async (args: string[], expect = 0) => {
    const r = await daemon.docker(args);
    assert.equal(r.code, expect, `docker ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r;
  };
  const inspect = async (name: string, format: string) => (await docker(['inspect', '-f', format, name])).stdout.trim();

  /** What the daemon's containers hold in the host: nothing must outlive them. */
  const leaks = () => {
    const ids = new Set<string>();
    const list = spawnSync('docker', ['ps', '-aq', '--no-trunc'], { env: { ...process.env, DOCKER_HOST: daemon.host }, encoding: 'utf8' });
    for (const id of list.stdout.split('\n').filter(Boolean)) ids.add(id);
    const running = spawnSync('docker', ['ps', '-q', '--no-trunc'], { env: { ...process.env, DOCKER_HOST: daemon.host }, encoding: 'utf8' });
    const live = running.stdout.split('\n').filter(Boolean);
    const out: string[] = [];
    // veths on our bridges: one per running container attachment at most.
    const bridges = bridgesOf(daemon.dataRoot, daemon.bridge).map((b) => b.bridge);
    let veths = 0;
    for (const br of bridges) {
      if (existsSync(`/sys/class/net/${br}/brif`)) veths += readdirSync(`/sys/class/net/${br}/brif`).length;
    }
    const cache = existsSync(join(daemon.dataRoot, 'network', 'cni-cache')) ? readdirSync(join(daemon.dataRoot, 'network', 'cni-cache')) : [];
    for (const f of cache) if (!live.some((id) => f.startsWith(id))) out.push(`CNI cache of a stopped container: ${f}`);
    // leases: only for running containers, one per attachment
    const ipam = join(daemon.dataRoot, 'network', 'ipam');
    const leases: string[] = [];
    for (const net of existsSync(ipam) ? readdirSync(ipam) : []) {
      for (const f of readdirSync(join(ipam, net)).filter((x) => /^\d+\.\d+\.\d+\.\d+$/.test(x))) {
        const owner = spawnSync('head', ['-1', join(ipam, net, f)], { encoding: 'utf8' }).stdout.trim();
        leases.push(`${net}/${f}`);
        if (!live.includes(owner)) out.push(`lease ${net}/${f} held by ${owner}`);
      }
    }
    if (veths > leases.length) {
      const names = bridges.flatMap((br) => (existsSync(`/sys/class/net/${br}/brif`) ? readdirSync(`/sys/class/net/${br}/brif`).map((v) => `${br}/${v}`) : []));
      out.push(`${veths} veths on berth bridges (${names.join(' ')}), ${leases.length} attachments (${leases.join(' ')})`);
    }
    // netns and iptables rules of containers that are not running
    const rules = spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout + spawnSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).stdout;
    for (const id of ids) {
      if (live.includes(id)) continue;
      if (existsSync(`/run/netns/berth-${id.slice(0, 12)}`)) out.push(`netns of ${id}`);
      if (rules.includes(id)) out.push(`iptables rules of ${id}`);
    }
    return out;
  };

  /** A removed namespace takes its veth pair along asynchronously (the kernel's netns cleanup work): allow it 2 s. */
  const settledLeaks = async () => {
    let found = leaks();
    for (let i = 0; i < 40 && found.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      found = leaks();
    }
    return found;
  };

  before(async () => {
    stack = await startStack({ mirror: false, seed: pushBusybox });
    ({ registry, daemon } = stack);
    await docker(['pull', image()]);
  });

  after(async () => {
    await stack?.stop();
  });

  test('default bridge: address from bip, outbound route, published port answers on 127.0.0.1 and the host address', async () => {
    const run = await docker(['run', '-d', '--name', 'web', '-p', '127.0.0.1:0:80', '-p', '80', '--expose', '81', image(), ...httpd('hello-bridge')]);
    assert.match(run.stdout, /^[0-9a-f]{64}$/m);
    const ip = await inspect('web', '{{.NetworkSettings.IPAddress}}');
    const gw = await inspect('web', '{{.NetworkSettings.Gateway}}');
    assert.equal(gw, daemon.bip.split('/')[0]);
    assert.equal(ip.split('.').slice(0, 3).join('.'), gw.split('.').slice(0, 3).join('.'));
    assert.match(await inspect('web', '{{.NetworkSettings.MacAddress}}'), /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    assert.equal(await inspect('web', '{{(index .NetworkSettings.Networks "bridge").IPAddress}}'), ip);

    const port = await docker(['port', 'web']);
    const local = /^80\/tcp -> 127\.0\.0\.1:(\d+)$/m.exec(port.stdout);
    const any = /^80\/tcp -> 0\.0\.0\.0:(\d+)$/m.exec(port.stdout);
    assert.ok(local && any, port.stdout);
    assert.doesNotMatch(port.stdout, /^81\//m, 'an exposed port that is not published is not listed');
    const r1 = await retry(() => httpGet('127.0.0.1', Number(local[1])));
    assert.equal(r1.body, 'hello-bridge\n');
    const r2 = await retry(() => httpGet(hostAddress(), Number(any[1])));
    assert.equal(r2.body, 'hello-bridge\n');
    const r3 = await retry(() => httpGet('127.0.0.1', Number(any[1])));
    assert.equal(r3.body, 'hello-bridge\n');
    // The 127.0.0.1-only binding is not reachable on the host's other address.
    await assert.rejects(httpGet(hostAddress(), Number(local[1])));

    const ps = await docker(['ps', '--format', '{{.Ports}}', '--filter', 'name=web']);
    assert.match(ps.stdout, new RegExp(`127\\.0\\.0\\.1:${local[1]}->80/tcp`));

    // The container has eth0 in the bip subnet and a default route via the gateway.
    const inside = await docker(['run', '--rm', image(), 'sh', '-c', 'ip -4 -o addr show eth0; ip route']);
    assert.match(inside.stdout, new RegExp(`inet ${gw.split('.').slice(0, 3).join('\\.')}\\.\\d+/26`));
    assert.match(inside.stdout, new RegExp(`default via ${gw.replace(/\./g, '\\.')}`));
    // Another container reaches it by IP on the default bridge.
    const peer = await docker(['run', '--rm', image(), 'timeout', '5', 'wget', '-q', '-O-', `http://${ip}/`]);
    assert.equal(peer.stdout, 'hello-bridge\n');

    await docker(['rm', '-f', 'web']);
    assert.deepEqual(await settledLeaks(), []);
  });

  test('a host port already in use is a clear error at start, and leaves nothing behind', async () => {
    await docker(['run', '-d', '--name', 'first', '-p', '127.0.0.1:0:80', image(), ...httpd('first')]);
    const hostPort = /127\.0\.0\.1:(\d+)/.exec((await docker(['port', 'first', '80'])).stdout)![1];
    const clash = await docker(['run', '-d', '--name', 'second', '-p', `127.0.0.1:${hostPort}:80`, image(), ...httpd('second')], 125);
    assert.match(clash.stderr, new RegExp(`Bind for 127\\.0\\.0\\.1:${hostPort} failed: port is already allocated`));
    assert.equal(await inspect('second', '{{.State.Status}}'), 'created');
    assert.equal((await httpGet('127.0.0.1', Number(hostPort))).body, 'first\n');

    // A port a host process listens on.
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const busy = (server.address() as { port: number }).port;
    try {
      const taken = await docker(['run', '--rm', '-p', `127.0.0.1:${busy}:80`, image(), 'true'], 125);
      assert.match(taken.stderr, new RegExp(`127\\.0\\.0\\.1:${busy}: bind: address already in use`));
    } finally {
      server.close();
    }
    const bad = await docker(['run', '--rm', '-p', '127.0.0.1:99999:80', image(), 'true'], 125);
    assert.match(bad.stderr, /invalid|range/i);
    await docker(['rm', '-f', 'first', 'second']);
    assert.deepEqual(await settledLeaks(), []);
  });

  test('user-defined network: names, aliases and containers that join later resolve; the docker CLI network commands', async () => {
    const created = await docker(['network', 'create', '--label', 'team=blue', 'appnet']);
    const netId = created.stdout.trim();
    assert.match(netId, /^[0-9a-f]{64}$/);
    const ls = await docker(['network', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Scope}}']);
    assert.match(ls.stdout, /^appnet bridge local$/m);
    assert.match(ls.stdout, /^bridge bridge local$/m);
    assert.match(ls.stdout, /^host host local$/m);
    assert.match(ls.stdout, /^none null local$/m);
    const subnet = (await docker(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', 'appnet'])).stdout.trim();
    assert.ok(subnet.startsWith(daemon.poolBase.split('.').slice(0, 3).join('.')), `${subnet} comes from default-address-pools`);
    assert.match(subnet, /\/28$/);
    assert.equal((await docker(['network', 'ls', '-q', '--filter', 'label=team=blue', '--no-trunc'])).stdout.trim(), netId);
    const dup = await docker(['network', 'create', 'appnet'], 1);
    assert.match(dup.stderr, /network with name appnet already exists/);

    await docker(['run', '-d', '--name', 'api', '--network', 'appnet', '--network-alias', 'backend', image(), ...httpd('from-api')]);
    // A waiting client, started before "late" exists: it resolves it once it joins.
    await docker(['run', '-d', '--name', 'waiter', '--network', 'appnet', image(), 'sh', '-c', 'for i in $(seq 1 100); do timeout 2 wget -q -O- http://late/ && exit 0; sleep 0.2; done; exit 1']);
    for (const name of ['api', 'backend', 'api.appnet']) {
      const r = await docker(['run', '--rm', '--network', 'appnet', image(), 'timeout', '5', 'wget', '-q', '-O-', `http://${name}/`]);
      assert.equal(r.stdout, 'from-api\n', name);
    }
    const tcp = await docker(['run', '--rm', '--network', 'appnet', image(), 'sh', '-c', 'echo GET / HTTP/1.0 | nc -w 5 api 80 | tail -1']);
    assert.equal(tcp.stdout, 'from-api\n');
    await docker(['run', '-d', '--name', 'late', '--network', 'appnet', image(), ...httpd('late-joiner')]);
    assert.equal((await docker(['wait', 'waiter'])).stdout.trim(), '0');
    assert.equal((await docker(['logs', 'waiter'])).stdout, 'late-joiner\n');

    const insp = JSON.parse((await docker(['network', 'inspect', 'appnet'])).stdout)[0];
    assert.equal(insp.Name, 'appnet');
    assert.deepEqual(insp.Labels, { team: 'blue' });
    const members = Object.values(insp.Containers as Record<string, { Name: string; IPv4Address: string }>).map((c) => c.Name).sort();
    assert.deepEqual(members, ['api', 'late']);
    const dnsNames = await inspect('api', '{{json (index .NetworkSettings.Networks "appnet").DNSNames}}');
    assert.ok(JSON.parse(dnsNames).includes('backend'));

    // connect with an alias, then disconnect.
    await docker(['run', '-d', '--name', 'roamer', image(), ...httpd('roamer')]);
    await docker(['network', 'connect', '--alias', 'wanderer', 'appnet', 'roamer']);
    const viaAlias = await docker(['run', '--rm', '--network', 'appnet', image(), 'timeout', '5', 'wget', '-q', '-O-', 'http://wanderer/']);
    assert.equal(viaAlias.stdout, 'roamer\n');
    const nets = await inspect('roamer', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}');
    assert.deepEqual(nets.split(' ').sort(), ['appnet', 'bridge']);
    await docker(['network', 'disconnect', 'appnet', 'roamer']);
    const gone = await docker(['run', '--rm', '--network', 'appnet', image(), 'timeout', '2', 'wget', '-q', '-O-', 'http://wanderer/'], 1);
    assert.match(gone.stderr, /bad address/);

    const busy = await docker(['network', 'rm', 'appnet'], 1);
    assert.match(busy.stderr, /has active endpoints/);
    const predefined = await docker(['network', 'rm', 'bridge'], 1);
    assert.match(predefined.stderr, /pre-defined network and cannot be removed/);
    await docker(['rm', '-f', 'api', 'late', 'waiter', 'roamer']);
    assert.deepEqual(await settledLeaks(), []);
    const bridge = `br-${netId.slice(0, 12)}`;
    assert.ok(existsSync(`/sys/class/net/${bridge}`));
    await docker(['network', 'rm', 'appnet']);
    assert.ok(!existsSync(`/sys/class/net/${bridge}`), 'the bridge goes with the network');
    assert.ok(!existsSync(join(daemon.dataRoot, 'network', 'ipam', `berth-${netId.slice(0, 12)}`)), 'and its leases');
    assert.doesNotMatch(spawnSync('iptables', ['-S'], { encoding: 'utf8' }).stdout, new RegExp(bridge));
    assert.doesNotMatch(spawnSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' }).stdout, new RegExp(bridge), 'its masquerading is gone too');
    const missing = await docker(['network', 'inspect', 'appnet'], 1);
    assert.match(missing.stderr, /network appnet not found/);
  });

  test('networks are isolated from each other; an --internal network has no outbound route', async () => {
    await docker(['network', 'create', '--subnet', '10.215.77.0/28', '--gateway', '10.215.77.14', 'red']);
    await docker(['network', 'create', 'blue']);
    await docker(['network', 'create', '--internal', 'vault']);
    assert.equal((await docker(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Gateway}}{{end}} {{.Internal}}', 'red'])).stdout.trim(), '10.215.77.14 false');
    const overlap = await docker(['network', 'create', '--subnet', '10.215.77.0/24', 'clash'], 1);
    assert.match(overlap.stderr, /overlaps/);

    await docker(['run', '-d', '--name', 'redweb', '--network', 'red', image(), ...httpd('red')]);
    const redIp = await inspect('redweb', '{{(index .NetworkSettings.Networks "red").IPAddress}}');
    assert.match(redIp, /^10\.215\.77\./);
    const same = await docker(['run', '--rm', '--network', 'red', image(), 'timeout', '3', 'wget', '-q', '-O-', `http://${redIp}/`]);
    assert.equal(same.stdout, 'red\n');
    const probe = (net: string[], url: string) => docker(['run', '--rm', ...net, image(), 'sh', '-c', `timeout 3 wget -q -O- ${url} 2>&1; echo rc=$?`]);
    const fromBlue = await probe(['--network', 'blue'], `http://${redIp}/`);
    assert.match(fromBlue.stdout, /rc=(1|143)$/m);
    assert.doesNotMatch(fromBlue.stdout, /red/);
    const fromBridge = await probe([], `http://${redIp}/`);
    assert.match(fromBridge.stdout, /rc=(1|143)$/m);
    assert.doesNotMatch(fromBridge.stdout, /red/);
    const byName = await probe(['--network', 'blue'], 'http://redweb/');
    assert.match(byName.stdout, /bad address/);

    const internal = await docker(['run', '--rm', '--network', 'vault', image(), 'sh', '-c', `ip route; timeout 3 wget -q -O- http://${hostAddress()}:1/ 2>&1; true`]);
    assert.doesNotMatch(internal.stdout, /default/);
    assert.match(internal.stdout, /unreachable/i);
    await docker(['rm', '-f', 'redweb']);
    const pruned = await docker(['network', 'prune', '-f']);
    for (const n of ['red', 'blue', 'vault']) assert.match(pruned.stdout, new RegExp(`^${n}$`, 'm'));
    assert.deepEqual(await settledLeaks(), []);
  });

  test('/etc/hosts, /etc/resolv.conf and /etc/hostname; --add-host, --dns, --dns-search, --hostname; host, none and container: modes', async () => {
    const r = await docker([
      'run', '--rm', '--hostname', 'box1', '--add-host', 'db.local:10.1.2.3', '--add-host', 'gw:host-gateway', '--dns', '10.9.9.9', '--dns-search', 'example.test',
      image(), 'sh', '-c', 'cat /etc/hostname; echo ---; cat /etc/hosts; echo ---; cat /etc/resolv.conf',
    ]);
    const [hostnameFile, hosts, resolv] = r.stdout.split('---\n');
    assert.equal(hostnameFile, 'box1\n');
    assert.match(hosts, /^127\.0\.0\.1\tlocalhost$/m);
    assert.match(hosts, /^10\.1\.2\.3\tdb\.local$/m);
    assert.match(hosts, new RegExp(`^${daemon.bip.split('/')[0].replace(/\./g, '\\.')}\\tgw$`, 'm'));
    assert.match(hosts, /^10\.213\.\d+\.\d+\tbox1$/m);
    assert.match(resolv, /^nameserver 10\.9\.9\.9$/m);
    assert.match(resolv, /^search example\.test$/m);

    const none = await docker(['run', '--rm', '--network', 'none', image(), 'ls', '/sys/class/net']);
    assert.equal(none.stdout, 'lo\n');
    const host = await docker(['run', '--rm', '--network', 'host', image(), 'ls', '/sys/class/net']);
    assert.match(host.stdout, new RegExp(`^${daemon.bridge}$`, 'm'), 'the host network shows the host interfaces');

    await docker(['run', '-d', '--name', 'owner', image(), ...httpd('shared')]);
    const shared = await docker(['run', '--rm', '--network', 'container:owner', image(), 'timeout', '3', 'wget', '-q', '-O-', 'http://127.0.0.1/']);
    assert.equal(shared.stdout, 'shared\n');
    const unknown = await docker(['run', '--rm', '--network', 'nosuchnet', image(), 'true'], 125);
    assert.match(unknown.stderr, /network nosuchnet not found/);
    await docker(['rm', '-f', 'owner']);
    assert.deepEqual(await settledLeaks(), []);
  });

  test('the berth CLI: network create/ls/inspect/connect/disconnect/rm/prune, port, run -P, --expose, port ranges, --network-alias', async () => {
    const berth = async (args: string[], expect = 0) => {
      const r = await daemon.berth(args);
      assert.equal(r.code, expect, `berth ${args.join(' ')}: ${r.stderr}${r.stdout}`);
      return r;
    };
    const id = (await berth(['network', 'create', '--subnet', '10.215.88.0/28', '--label', 'env=test', '-o', 'com.docker.network.bridge.name=btcli0', 'clinet'])).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.ok(existsSync('/sys/class/net/btcli0') === false, 'the bridge appears with the first container');
    const ls = await berth(['network', 'ls']);
    assert.match(ls.stdout, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/m);
    assert.match(ls.stdout, new RegExp(`^${id.slice(0, 12)}\\s+clinet\\s+bridge\\s+local$`, 'm'));
    assert.equal((await berth(['network', 'ls', '-q', '--filter', 'label=env=test'])).stdout, `${id.slice(0, 12)}\n`);
    assert.deepEqual(JSON.parse((await berth(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'clinet'])).stdout), [{ Subnet: '10.215.88.0/28', Gateway: '10.215.88.1' }]);
    const bad = await berth(['network', 'create', '--subnet', 'nonsense', 'badnet'], 1);
    assert.match(bad.stderr, /invalid subnet/);
    const driver = await berth(['network', 'create', '-d', 'overlay', 'ov'], 1);
    assert.match(driver.stderr, /overlay/);

    const lo = 40000 + Math.floor(Math.random() * 9000);
    await berth(['run', '-d', '--name', 'svc', '--network', 'clinet', '--network-alias', 'svc-alias', '-P', '--expose', '80', '-p', `127.0.0.1:${lo}-${lo + 20}:81`, '-p', '127.0.0.1::82-83', image(), ...httpd('svc')]);
    assert.ok(existsSync('/sys/class/net/btcli0'));
    const ports = (await berth(['port', 'svc'])).stdout;
    assert.match(ports, /^80\/tcp -> 0\.0\.0\.0:\d+$/m);
    const ranged = Number(/^81\/tcp -> 127\.0\.0\.1:(\d+)$/m.exec(ports)?.[1]);
    assert.ok(ranged >= lo && ranged <= lo + 20, ports);
    for (const p of [82, 83]) assert.match(ports, new RegExp(`^${p}/tcp -> 127\\.0\\.0\\.1:\\d+$`, 'm'));
    const published = Number((await berth(['port', 'svc', '80'])).stdout.trim().split(':')[1]);
    assert.equal((await retry(() => httpGet('127.0.0.1', published))).body, 'svc\n');
    const none = await berth(['port', 'svc', '9999'], 1);
    assert.match(none.stderr, /No public port '9999\/tcp' published for svc/);
    const viaAlias = await berth(['run', '--rm', '--network', 'clinet', image(), 'timeout', '5', 'wget', '-q', '-O-', 'http://svc-alias/']);
    assert.equal(viaAlias.stdout, 'svc\n');
    const aliasOnBridge = await berth(['run', '--rm', '--network-alias', 'x', image(), 'true'], 125);
    assert.match(aliasOnBridge.stderr, /user-defined networks/);

    await berth(['run', '-d', '--name', 'joiner', image(), 'sleep', '60']);
    await berth(['network', 'connect', '--alias', 'j2', 'clinet', 'joiner']);
    const nets = JSON.parse((await berth(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'joiner'])).stdout);
    assert.deepEqual(Object.keys(nets).sort(), ['bridge', 'clinet']);
    assert.match(nets.clinet.IPAddress, /^10\.215\.88\.\d+$/);
    assert.deepEqual(nets.clinet.Aliases, ['j2']);
    const byAlias = await berth(['run', '--rm', '--network', 'clinet', image(), 'ping', '-c', '1', '-W', '3', 'j2']);
    assert.match(byAlias.stdout, /1 packets received/);
    await berth(['network', 'disconnect', 'clinet', 'joiner']);
    const notConnected = await berth(['network', 'disconnect', 'clinet', 'joiner'], 1);
    assert.match(notConnected.stderr, /is not connected to network clinet/);
    await berth(['rm', '-f', 'svc', 'joiner']);
    assert.deepEqual(await settledLeaks(), []);
    assert.equal((await berth(['network', 'rm', 'clinet'])).stdout, 'clinet\n');
    assert.ok(!existsSync('/sys/class/net/btcli0'));
    const missing = await berth(['network', 'rm', 'clinet'], 1);
    assert.match(missing.stderr, /network clinet not found/);
    await berth(['network', 'create', 'leftover']);
    const pruned = await berth(['network', 'prune', '-f']);
    assert.equal(pruned.stdout, 'Deleted Networks:\nleftover\n\n');
  });

  test('kill -9 of berthd: attachments of containers that ended meanwhile are released after the restart', async () => {
    await docker(['network', 'create', 'crashnet']);
    await docker(['run', '-d', '--name', 'stayer', '--network', 'crashnet', '-p', '127.0.0.1:0:80', image(), ...httpd('stayer')]);
    await docker(['run', '-d', '--name', 'leaver', '--network', 'crashnet', '-p', '127.0.0.1:0:80', image(), 'sh', '-c', 'sleep 1']);
    const stayerPort = Number(/127\.0\.0\.1:(\d+)/.exec((await docker(['port', 'stayer', '80'])).stdout)![1]);
    daemon.kill9();
    await new Promise((r) => setTimeout(r, 1500));
    await daemon.start();
    assert.equal(await inspect('leaver', '{{.State.Status}}'), 'exited');
    assert.equal((await retry(() => httpGet('127.0.0.1', stayerPort))).body, 'stayer\n');
    // the name server of the network is back too
    const byName = await docker(['run', '--rm', '--network', 'crashnet', image(), 'timeout', '3', 'wget', '-q', '-O-', 'http://stayer/']);
    assert.equal(byName.stdout, 'stayer\n');
    assert.deepEqual(await settledLeaks(), []);
    await docker(['rm', '-f', 'stayer', 'leaver']);
    await docker(['network', 'rm', 'crashnet']);
    assert.deepEqual(await settledLeaks(), []);
  });
});
