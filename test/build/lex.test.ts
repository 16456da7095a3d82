import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envLookup, ExpansionError, processWord, processWords } from '../../src/build/lex.js';

const env = envLookup({ FOO: '/bar', EMPTY: '', STR: 'foobarbaz', SP: 'a b  c', PATHV: '/usr/local/bin:/usr/bin' });
const w = (s: string, escape?: string) => processWord(s, env, { escape });

describe('variable expansion (BuildKit shell lexer)', () => {
  it('plain and braced variables, unset → empty', () => {
    assert.equal(w('$FOO'), '/bar');
    assert.equal(w('${FOO}_x'), '/bar_x');
    assert.equal(w('$FOO_x'), '');
    assert.equal(w('a$NOPE-b'), 'a-b');
    assert.equal(w('cost $'), 'cost $');
    assert.equal(w('$1x'), 'x');
  });
  it('quotes: single literal, double expands, both removed', () => {
    assert.equal(w("'$FOO'"), '$FOO');
    assert.equal(w('"$FOO baz"'), '/bar baz');
    assert.equal(w('"a\\"b"'), 'a"b');
    assert.equal(w('"a\\nb"'), 'a\\nb');
    assert.equal(w("it's\\ ok'"), "its\\ ok");
  });
  it('escapes', () => {
    assert.equal(w('\\$FOO'), '$FOO');
    assert.equal(w('\\${FOO}'), '${FOO}');
    assert.equal(w('a\\ b'), 'a b');
    assert.equal(w('`$FOO', '`'), '$FOO');
    assert.equal(w('c:\\dir', '`'), 'c:\\dir');
  });
  it(':- - :+ + :? ?', () => {
    assert.equal(w('${NOPE:-x}'), 'x');
    assert.equal(w('${EMPTY:-x}'), 'x');
    assert.equal(w('${EMPTY-x}'), '');
    assert.equal(w('${NOPE-x}'), 'x');
    assert.equal(w('${FOO:-x}'), '/bar');
    assert.equal(w('${FOO:+x}'), 'x');
    assert.equal(w('${EMPTY:+x}'), '');
    assert.equal(w('${EMPTY+x}'), 'x');
    assert.equal(w('${NOPE+x}'), '');
    assert.equal(w('${NOPE:-$FOO/y}'), '/bar/y');
    assert.equal(w('${NOPE:-"a b"}'), 'a b');
    assert.throws(() => w('${NOPE:?must be set}'), (e: Error) => e instanceof ExpansionError && /NOPE: must be set/.test(e.message));
    assert.throws(() => w('${NOPE?}'), /NOPE: is not allowed to be unset/);
    assert.equal(w('${EMPTY?}'), '');
  });
  it('# ## % %% / // as the reference documents', () => {
    assert.equal(w('${STR#f*b}'), 'arbaz');
    assert.equal(w('${STR##f*b}'), 'az');
    assert.equal(w('${STR%b*}'), 'foobar');
    assert.equal(w('${STR%%b*}'), 'foo');
    assert.equal(w('${STR/ba/fo}'), 'fooforbaz');
    assert.equal(w('${STR//ba/fo}'), 'fooforfoz');
    assert.equal(w('${STR/ba}'), 'foorbaz');
    assert.equal(w('${PATHV%%:*}'), '/usr/local/bin');
    assert.equal(w('${STR#\\*}'), 'foobarbaz');
    assert.equal(w('${STR#?}'), 'oobarbaz');
  });
  it('errors', () => {
    assert.throws(() => w('${FOO'), ExpansionError);
    assert.throws(() => w("'abc"), /matching single-quote/);
    assert.throws(() => w('"abc'), /matching double-quote/);
    assert.throws(() => w('${}'), /bad substitution/);
    assert.throws(() => w('${FOO^x}'), /unsupported modifier/);
  });
  it('words split on unquoted whitespace, also from variables', () => {
    assert.deepEqual(processWords('80/tcp  $SP "x y" \'\'', env), ['80/tcp', 'a', 'b', 'c', 'x y', '']);
    assert.deepEqual(processWords('"$SP"', env), ['a b  c']);
  });
});
