// The quickstart through the real docker CLI against berthd, images from a real registry
// (Debian's docker-registry) configured as berth's docker.io mirror.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { pushQuickstartImages } from '../fixtures/images.js';
import type { RunningRegistry } from '../fixtures/registry.js';
import { startStack, type TestDaemon } from './harness.js';

describe('docker CLI against berthd', () => {
  let registry: RunningRegistry;
  let daemon: TestDaemon;
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;

  before(async () => {
    stack = await startStack({ mirror: true, seed: pushQuickstartImages });
    ({ registry, daemon } = stack);
  });

  after(async () => {
    await stack?.stop();
  });

  test('the API socket is root-only (0660)', () => {
    assert.equal(statSync(daemon.socket).mode & 0o777, 0o660);
  });

  test('docker version negotiates with berthd', async () => {
    const r = await daemon.docker(['version', '--format', '{{.Server.APIVersion}} {{.Server.MinAPIVersion}}']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '1.47 1.24');
  });

  test('docker info answers', async () => {
    const r = await daemon.docker(['info', '--format', '{{.Driver}} {{.OSType}}']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'overlay2 linux');
  });

  test('docker pull busybox goes through the mirror; a second pull is a no-op', async () => {
    const first = await daemon.docker(['pull', 'busybox']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /latest: Pulling from library\/busybox/);
    assert.match(first.stdout, /Digest: sha256:[a-f0-9]{64}/);
    assert.match(first.stdout, /Status: Downloaded newer image for busybox:latest/);
    assert.match(first.stdout, /docker\.io\/library\/busybox:latest\s*$/);
    const second = await daemon.docker(['pull', 'busybox']);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /Status: Image is up to date for busybox:latest/);
  });

  test('docker run --rm busybox /bin/echo Hello Docker', async () => {
    const r = await daemon.docker(['run', '--rm', 'busybox', '/bin/echo', 'Hello Docker']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Hello Docker\n');
    const ps = await daemon.docker(['ps', '-a', '-q']);
    assert.equal(ps.stdout.trim(), '', 'the --rm container is gone');
  });

  test('stdout and stderr reach the client separately and the exit code propagates', async () => {
    const r = await daemon.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo to-out; echo to-err >&2; exit 3']);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'to-out\n');
    assert.equal(r.stderr, 'to-err\n');
  });

  test('docker run hello-world pulls it on first use', async () => {
    const r = await daemon.docker(['run', 'hello-world']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Unable to find image 'hello-world:latest' locally/);
    assert.match(r.stdout, /Hello from Docker!/);
  });

  test('a named container: ps -a, logs, inspect, rm', async () => {
    const run = await daemon.docker(['run', '--name', 'greeter', 'busybox', 'sh', '-c', 'echo line one; echo line two >&2']);
    assert.equal(run.code, 0, run.stderr);
    const ps = await daemon.docker(['ps', '-a', '--format', '{{.Names}}|{{.Image}}|{{.Status}}']);
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, /^greeter\|busybox\|Exited \(0\) .*ago$/m);
    const logs = await daemon.docker(['logs', 'greeter']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, 'line one\n');
    assert.equal(logs.stderr, 'line two\n');
    const inspect = await daemon.docker(['inspect', 'greeter']);
    assert.equal(inspect.code, 0, inspect.stderr);
    const [info] = JSON.parse(inspect.stdout) as Array<Record<string, any>>;
    assert.equal(info.Name, '/greeter');
    assert.equal(info.State.Status, 'exited');
    assert.equal(info.State.ExitCode, 0);
    assert.equal(info.Config.Image, 'busybox');
    assert.deepEqual(info.Args, ['-c', 'echo line one; echo line two >&2']);
    const rm = await daemon.docker(['rm', 'greeter']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout.trim(), 'greeter');
    const gone = await daemon.docker(['inspect', 'greeter']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No such object: greeter/);
  });

  test('run options: -e, -w, -u, --entrypoint, and the hostname is the short ID', async () => {
    const r = await daemon.docker([
      'run', '--rm', '-e', 'GREETING=hi there', '-w', '/tmp', '-u', 'nobody', 'busybox',
      'sh', '-c', 'echo "$GREETING|$(pwd)|$(id -un)|$(hostname)|$HOSTNAME"',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [greeting, cwd, user, host, envHost] = r.stdout.trim().split('|');
    assert.equal(greeting, 'hi there');
    assert.equal(cwd, '/tmp');
    assert.equal(user, 'nobody');
    assert.match(host, /^[a-f0-9]{12}$/);
    assert.equal(envHost, host);
    const ep = await daemon.docker(['run', '--rm', '--entrypoint', '/bin/echo', 'busybox', 'from', 'entrypoint']);
    assert.equal(ep.code, 0, ep.stderr);
    assert.equal(ep.stdout, 'from entrypoint\n');
  });

  test('exit codes 127 and 126 for commands that cannot run', async () => {
    const missing = await daemon.docker(['run', '--rm', 'busybox', '/no/such/binary']);
    assert.equal(missing.code, 127, missing.stderr);
    assert.match(missing.stderr, /no such file or directory|executable file not found/);
    const notExec = await daemon.docker(['run', '--rm', 'busybox', '/etc/passwd']);
    assert.equal(notExec.code, 126, notExec.stderr);
    assert.match(notExec.stderr, /permission denied/);
  });

  test('detached containers: ps, rm refuses a running one, rm -f removes it', async () => {
    const run = await daemon.docker(['run', '-d', '--name', 'sleeper', 'busybox', 'sleep', '300']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout.trim(), /^[a-f0-9]{64}$/);
    const ps = await daemon.docker(['ps', '--format', '{{.Names}} {{.Status}}']);
    assert.match(ps.stdout, /^sleeper Up /m);
    const rm = await daemon.docker(['rm', 'sleeper']);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /container is running: stop the container before removing or force remove/);
    const rmf = await daemon.docker(['rm', '-f', 'sleeper']);
    assert.equal(rmf.code, 0, rmf.stderr);
    const after = await daemon.docker(['ps', '-a', '--format', '{{.Names}}']);
    assert.doesNotMatch(after.stdout, /sleeper/);
  });

  test('docker images lists pulled images; rmi untags and deletes', async () => {
    const images = await daemon.docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    assert.equal(images.code, 0, images.stderr);
    assert.match(images.stdout, /^busybox:latest [a-f0-9]{12}$/m);
    assert.match(images.stdout, /^hello-world:latest [a-f0-9]{12}$/m);
    // hello-world's container from the test above still exists: rmi refuses, like docker.
    const refused = await daemon.docker(['rmi', 'hello-world']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /conflict: unable to remove repository reference "hello-world" \(must force\) - container [a-f0-9]{12} is using its referenced image [a-f0-9]{12}/);
    const prune = await daemon.docker(['ps', '-a', '-q', '--filter', 'ancestor=hello-world']);
    for (const id of prune.stdout.split('\n').filter(Boolean)) await daemon.docker(['rm', id]);
    const all = await daemon.docker(['ps', '-a', '-q']);
    for (const id of all.stdout.split('\n').filter(Boolean)) await daemon.docker(['rm', '-f', id]);
    const rmi = await daemon.docker(['rmi', 'hello-world']);
    assert.equal(rmi.code, 0, rmi.stderr);
    assert.match(rmi.stdout, /^Untagged: hello-world:latest$/m);
    assert.match(rmi.stdout, /^Deleted: sha256:[a-f0-9]{64}$/m);
    const after = await daemon.docker(['images', '--format', '{{.Repository}}']);
    assert.doesNotMatch(after.stdout, /hello-world/);
    const inspect = await daemon.docker(['image', 'inspect', 'busybox', '--format', '{{.Os}}/{{.Architecture}} {{len .RootFS.Layers}}']);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.match(inspect.stdout.trim(), /^linux\/amd64 [1-9]\d*$/);
  });

  test('bad references and unknown images get docker\'s messages', async () => {
    const invalid = await daemon.docker(['pull', 'Not//Valid']);
    assert.notEqual(invalid.code, 0);
    assert.match(invalid.stderr, /invalid reference format/);
    const unknownTag = await daemon.docker(['pull', 'busybox:no-such-tag']);
    assert.equal(unknownTag.code, 1);
    assert.match(unknownTag.stderr, /manifest unknown/);
    const unknownRepo = await daemon.docker(['pull', `${registry.host}/nobody/nothing`]);
    assert.equal(unknownRepo.code, 1);
    assert.match(unknownRepo.stderr, /(repository does not exist|not found|name unknown)/);
  });

  test('the API answers unknown routes and malformed bodies with docker\'s JSON errors', async () => {
    const unknown = await daemon.api('GET', '/v1.47/no/such/route');
    assert.equal(unknown.status, 404);
    assert.equal(typeof unknown.body.message, 'string');
    const bad = await daemon.api('POST', '/v1.47/containers/create', '{not json');
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /invalid JSON/);
    const wrongType = await daemon.api('POST', '/v1.47/containers/create', { Image: 'busybox', Cmd: 42 });
    assert.equal(wrongType.status, 400);
    const tooNew = await daemon.api('GET', '/v1.99/version');
    assert.equal(tooNew.status, 400);
    assert.match(tooNew.body.message, /client version 1.99 is too new/);
    const old = await daemon.api('GET', '/v1.24/version');
    assert.equal(old.status, 200);
    const noImage = await daemon.api('POST', '/containers/create', { Image: 'nosuchimage' });
    assert.equal(noImage.status, 404);
    assert.equal(noImage.body.message, 'No such image: nosuchimage:latest');
  });
});
