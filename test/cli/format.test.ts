import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  containerRows, ellipsis, formatG, goJsonIndent, goQuote, humanDuration, humanSizeWithPrecision, bytesSize,
  imageRows, parseNormalizedNamed, table, truncateId,
} from '../../src/cli/format.js';
import { parseFlags } from '../../src/cli/flags.js';
import { execTemplate, TemplateError } from '../../src/cli/template.js';

test('sizes follow go-units HumanSizeWithPrecision(size, 3)', () => {
  assert.equal(humanSizeWithPrecision(4261301, 3), '4.26MB');
  assert.equal(humanSizeWithPrecision(1240, 3), '1.24kB');
  assert.equal(humanSizeWithPrecision(0, 3), '0B');
  assert.equal(humanSizeWithPrecision(999, 3), '999B');
  assert.equal(humanSizeWithPrecision(1000, 3), '1kB');
  assert.equal(humanSizeWithPrecision(1_500_000, 3), '1.5MB');
  assert.equal(humanSizeWithPrecision(12_345_678, 3), '12.3MB');
  // %g switches to exponent form when rounding reaches the precision, as Go does.
  assert.equal(humanSizeWithPrecision(999_500, 3), '1e+03kB');
  // Exact decimal ties round to even, as Go's strconv.
  assert.equal(humanSizeWithPrecision(1125, 3), '1.12kB');
  assert.equal(formatG(0.0001234, 3), '0.000123');
  assert.equal(bytesSize(8_000_000_000), '7.451GiB');
});

test('durations follow go-units HumanDuration', () => {
  const s = 1000;
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(1 * s), '1 second');
  assert.equal(humanDuration(2 * s), '2 seconds');
  assert.equal(humanDuration(60 * s), 'About a minute');
  assert.equal(humanDuration(5 * 60 * s), '5 minutes');
  assert.equal(humanDuration(60 * 60 * s), 'About an hour');
  assert.equal(humanDuration(2 * 3600 * s), '2 hours');
  assert.equal(humanDuration(3 * 86400 * s), '3 days');
  assert.equal(humanDuration(15 * 86400 * s), '2 weeks');
  assert.equal(humanDuration(95 * 86400 * s), '3 months');
  assert.equal(humanDuration(800 * 86400 * s), '2 years');
});

test('tabwriter alignment: padding 3, min width 10, last column unpadded', () => {
  assert.equal(table([['A', 'BB', 'C'], ['long-value', 'x', 'tail']]), 'A            BB        C\nlong-value   x         tail\n');
});

test('ids, quoting and ellipsis', () => {
  assert.equal(truncateId('sha256:af4709625109aa1d2e2a1b3ad2d8ac84'), 'af4709625109');
  assert.equal(ellipsis("sh -c 'while true; do echo hi; done'", 20), "sh -c 'while true; …");
  assert.equal(goQuote('a"b\n\x01'), '"a\\"b\\n\\x01"');
  assert.deepEqual(parseNormalizedNamed('busybox'), { name: 'docker.io/library/busybox', tag: undefined, digest: undefined });
  assert.deepEqual(parseNormalizedNamed('localhost:5000/a/b:1'), { name: 'localhost:5000/a/b', tag: '1', digest: undefined });
});

const NOW = 1_700_000_000_000;

test('ps table matches docker output', () => {
  const out = containerRows(
    [
      { Id: '4f66ad9a0b2e' + '0'.repeat(52), Names: ['/happy_turing'], Image: 'busybox', Command: "sh -c 'while true; do echo hi; sleep 1; done'", Created: NOW / 1000 - 300, Status: 'Up 5 minutes', Ports: [] },
      { Id: 'b'.repeat(64), Names: ['/done_one'], Image: 'busybox', Command: 'true', Created: NOW / 1000 - 7200, Status: 'Exited (0) 2 hours ago', Ports: [] },
    ],
    { now: NOW },
  );
  assert.equal(
    out,
    'CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS                   PORTS     NAMES\n' +
      '4f66ad9a0b2e   busybox   "sh -c \'while true; …"   5 minutes ago   Up 5 minutes                       happy_turing\n' +
      'bbbbbbbbbbbb   busybox   "true"                   2 hours ago     Exited (0) 2 hours ago             done_one\n',
  );
  assert.equal(containerRows([{ Id: 'c'.repeat(64), Image: 'x', Command: '', Created: 0, Status: 'Created' }], { quiet: true }), 'cccccccccccc\n');
});

test('images table matches docker output', () => {
  const img = { Id: 'sha256:af4709625109aa1d2e2a1b3ad2d8ac84', RepoTags: ['busybox:latest'], RepoDigests: ['busybox@sha256:f853'], Created: NOW / 1000 - 21 * 86400, Size: 4261301 };
  assert.equal(imageRows([img], { now: NOW }), 'REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\nbusybox      latest    af4709625109   3 weeks ago   4.26MB\n');
  assert.equal(
    imageRows([img], { now: NOW, digests: true }),
    'REPOSITORY   TAG       DIGEST        IMAGE ID       CREATED       SIZE\nbusybox      latest    sha256:f853   af4709625109   3 weeks ago   4.26MB\n',
  );
  assert.equal(imageRows([{ ...img, RepoTags: [], RepoDigests: [] }], { now: NOW }).split('\n')[1], '<none>       <none>    af4709625109   3 weeks ago   4.26MB');
});

test('inspect JSON is indented with 4 spaces and keeps && as is', () => {
  assert.equal(goJsonIndent([{ Cmd: ['a && b'], E: [] }]), '[\n    {\n        "Cmd": [\n            "a && b"\n        ],\n        "E": []\n    }\n]');
});

test('--format subset', () => {
  const data = { Name: '/x', State: { ExitCode: 3, Running: false }, Config: { Cmd: ['sh', '-c'], Labels: { a: 'b' } } };
  assert.equal(execTemplate('{{.Name}} {{.State.ExitCode}} {{json .Config.Cmd}} {{.Config.Cmd}}', data), '/x 3 ["sh","-c"] [sh -c]');
  assert.equal(execTemplate('{{index .Config.Labels "a"}} {{.Config.Labels}} {{.State | json}} {{len .Config.Cmd}}', data), 'b map[a:b] {"ExitCode":3,"Running":false} 2');
  assert.throws(() => execTemplate('{{.Nope}}', data), (e: Error) => e instanceof TemplateError && e.message.includes('map has no entry for key "Nope"'));
});

test('pflag-style parsing', () => {
  const spec = {
    name: 'run', usage: 'IMAGE', description: '', stopAtFirstArg: true,
    flags: [
      { long: 'detach', short: 'd', type: 'bool' as const, description: '' },
      { long: 'interactive', short: 'i', type: 'bool' as const, description: '' },
      { long: 'tty', short: 't', type: 'bool' as const, description: '' },
      { long: 'env', short: 'e', type: 'list' as const, description: '' },
      { long: 'rm', type: 'bool' as const, description: '' },
    ],
  };
  const r = parseFlags(spec, ['-dit', '-eA=1', '-e', 'B=2', '--env=C=3', '--rm=false', 'busybox', 'ls', '-l']);
  assert.deepEqual(r.args, ['busybox', 'ls', '-l']);
  assert.equal(r.opts.detach, true);
  assert.equal(r.opts.tty, true);
  assert.equal(r.opts.rm, false);
  assert.deepEqual(r.opts.env, ['A=1', 'B=2', 'C=3']);
  assert.throws(() => parseFlags(spec, ['--foo']), /^Error: unknown flag: --foo\n\nUsage:  berth run IMAGE/);
  assert.throws(() => parseFlags(spec, ['-x']), /unknown shorthand flag: 'x' in -x/);
  assert.throws(() => parseFlags(spec, ['-e']), /flag needs an argument: 'e' in -e/);
});
