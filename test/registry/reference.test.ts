import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  canonicalString,
  familiarName,
  familiarString,
  parseReference,
  parseReferenceNoDefault,
  repositoryName,
} from '../../src/registry/reference.js';
import { InvalidParameterError } from '../../src/util/errors.js';

const HEX = 'a'.repeat(64);
const D = `sha256:${HEX}`;

describe('parseReference', () => {
  const valid: [string, { domain: string; path: string; tag?: string; digest?: string }, string, string][] = [
    ['busybox', { domain: 'docker.io', path: 'library/busybox', tag: 'latest' }, 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', { domain: 'docker.io', path: 'library/busybox', tag: '1.36' }, 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['user/repo', { domain: 'docker.io', path: 'user/repo', tag: 'latest' }, 'docker.io/user/repo:latest', 'user/repo:latest'],
    ['docker.io/busybox', { domain: 'docker.io', path: 'library/busybox', tag: 'latest' }, 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox:x', { domain: 'docker.io', path: 'library/busybox', tag: 'x' }, 'docker.io/library/busybox:x', 'busybox:x'],
    ['docker.io/library/a/b', { domain: 'docker.io', path: 'library/a/b', tag: 'latest' }, 'docker.io/library/a/b:latest', 'library/a/b:latest'],
    ['127.0.0.1:5000/foo', { domain: '127.0.0.1:5000', path: 'foo', tag: 'latest' }, '127.0.0.1:5000/foo:latest', '127.0.0.1:5000/foo:latest'],
    ['host:5000/ns/repo:v1.2-rc_3', { domain: 'host:5000', path: 'ns/repo', tag: 'v1.2-rc_3' }, 'host:5000/ns/repo:v1.2-rc_3', 'host:5000/ns/repo:v1.2-rc_3'],
    ['localhost/x', { domain: 'localhost', path: 'x', tag: 'latest' }, 'localhost/x:latest', 'localhost/x:latest'],
    ['registry.example.com/a/b/c:Tag', { domain: 'registry.example.com', path: 'a/b/c', tag: 'Tag' }, 'registry.example.com/a/b/c:Tag', 'registry.example.com/a/b/c:Tag'],
    [`busybox@${D}`, { domain: 'docker.io', path: 'library/busybox', digest: D }, `docker.io/library/busybox@${D}`, `busybox@${D}`],
    [`busybox:1@${D}`, { domain: 'docker.io', path: 'library/busybox', tag: '1', digest: D }, `docker.io/library/busybox:1@${D}`, `busybox:1@${D}`],
    [`localhost:5000/a__b-c.d@${D}`, { domain: 'localhost:5000', path: 'a__b-c.d', digest: D }, `localhost:5000/a__b-c.d@${D}`, `localhost:5000/a__b-c.d@${D}`],
    ['Example.com/foo', { domain: 'Example.com', path: 'foo', tag: 'latest' }, 'Example.com/foo:latest', 'Example.com/foo:latest'],
    // An upper-case first component is a domain (docker's heuristic), not a repository.
    ['Foo/bar', { domain: 'Foo', path: 'bar', tag: 'latest' }, 'Foo/bar:latest', 'Foo/bar:latest'],
    ['[::1]:5000/foo:v1', { domain: '[::1]:5000', path: 'foo', tag: 'v1' }, '[::1]:5000/foo:v1', '[::1]:5000/foo:v1'],
    // Without a slash "localhost:5000" is a repository with a tag.
    ['localhost:5000', { domain: 'docker.io', path: 'library/localhost', tag: '5000' }, 'docker.io/library/localhost:5000', 'localhost:5000'],
    [`busybox@sha512:${'b'.repeat(128)}`, { domain: 'docker.io', path: 'library/busybox', digest: `sha512:${'b'.repeat(128)}` }, `docker.io/library/busybox@sha512:${'b'.repeat(128)}`, `busybox@sha512:${'b'.repeat(128)}`],
  ];
  for (const [input, want, canonical, familiar] of valid) {
    test(`valid: ${input}`, () => {
      const ref = parseReference(input);
      assert.deepEqual(ref, want);
      assert.equal(canonicalString(ref), canonical);
      assert.equal(familiarString(ref), familiar);
    });
  }

  test('familiarName', () => {
    assert.equal(familiarName(parseReference('busybox')), 'busybox');
    assert.equal(familiarName(parseReference('user/repo:1')), 'user/repo');
    assert.equal(familiarName(parseReference('127.0.0.1:5000/foo:bar')), '127.0.0.1:5000/foo');
  });

  test('parseReferenceNoDefault leaves the tag out', () => {
    assert.deepEqual(parseReferenceNoDefault('busybox'), { domain: 'docker.io', path: 'library/busybox' });
    assert.deepEqual(parseReferenceNoDefault('busybox:1'), { domain: 'docker.io', path: 'library/busybox', tag: '1' });
    assert.deepEqual(parseReferenceNoDefault(`x/y@${D}`), { domain: 'docker.io', path: 'x/y', digest: D });
    assert.throws(() => parseReferenceNoDefault('Busybox'), InvalidParameterError);
  });

  test('repositoryName', () => {
    assert.equal(repositoryName(parseReference('busybox:1')), 'docker.io/library/busybox');
    assert.equal(repositoryName(parseReference(`127.0.0.1:5000/a/b@${D}`)), '127.0.0.1:5000/a/b');
  });

  test('canonicalString without tag', () => {
    assert.equal(canonicalString({ domain: 'docker.io', path: 'library/busybox' }), 'docker.io/library/busybox');
  });

  const invalid: [string, string][] = [
    ['Busybox', 'invalid reference format: repository name (library/Busybox) must be lowercase'],
    ['user/Repo:tag', 'invalid reference format: repository name (user/Repo) must be lowercase'],
    ['', 'invalid reference format'],
    ['busybox:', 'invalid reference format'],
    [':tag', 'invalid reference format'],
    ['busybox@sha256:abc', 'invalid reference format'],
    ['busybox@', 'invalid reference format'],
    ['a//b', 'invalid reference format'],
    ['-foo', 'invalid reference format'],
    ['foo-', 'invalid reference format'],
    ['foo bar', 'invalid reference format'],
    ['busybox:-tag', 'invalid reference format'],
    [`busybox:${'t'.repeat(129)}`, 'invalid reference format'],
    ['host:port/x', 'invalid reference format'],
    ['/busybox', 'invalid reference format'],
    [HEX, `invalid repository name (${HEX}), cannot specify 64-byte hexadecimal strings`],
    [`a/${'b'.repeat(260)}`, 'repository name must not be more than 255 characters'],
    ['a'.repeat(256), 'repository name must not be more than 255 characters'],
    ['ubuntu:.', 'invalid reference format'],
    [`Busybox@${D}`, 'invalid reference format: repository name (library/Busybox@sha256) must be lowercase'],
    [`busybox@sha256:${'A'.repeat(64)}`, 'invalid checksum digest format'],
    [`busybox@sha256:${'a'.repeat(32)}`, 'invalid checksum digest length'],
    [`busybox@unknown:${'a'.repeat(64)}`, 'unsupported digest algorithm'],
  ];
  for (const [input, message] of invalid) {
    test(`invalid: ${JSON.stringify(input.length > 40 ? input.slice(0, 40) + '…' : input)}`, () => {
      assert.throws(
        () => parseReference(input),
        (err: unknown) => err instanceof InvalidParameterError && err.message === message && err.status === 400,
      );
    });
  }
});
