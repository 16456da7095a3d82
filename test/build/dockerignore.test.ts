import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IgnoreMatcher, parseDockerignore } from '../../src/build/dockerignore.js';

describe('.dockerignore (moby patternmatcher rules)', () => {
  it('parses comments, blanks, leading slash, cleaning', () => {
    assert.deepEqual(parseDockerignore('# c\n\n /a/b/ \n!./keep\n  # not a comment?\nx/../y\n'), ['a/b', '!keep', '# not a comment?', 'y']);
  });
  it('* and ? stay within one directory; ** crosses', () => {
    const m = IgnoreMatcher.fromText('*.log\nsrc/?.tmp\n**/*.bak\ndocs/**/draft*\n');
    assert.equal(m.matches('a.log'), true);
    assert.equal(m.matches('dir/a.log'), false);
    assert.equal(m.matches('src/x.tmp'), true);
    assert.equal(m.matches('src/xy.tmp'), false);
    assert.equal(m.matches('a.bak'), true);
    assert.equal(m.matches('deep/er/a.bak'), true);
    assert.equal(m.matches('docs/draft1'), true);
    assert.equal(m.matches('docs/a/b/draft2.md'), true);
  });
  it('a matched directory excludes what is below it', () => {
    const m = IgnoreMatcher.fromText('node_modules\nbuild/\n');
    assert.equal(m.matches('node_modules/x/y.js'), true);
    assert.equal(m.matches('build/out.o'), true);
    assert.equal(m.matches('src/node_modules'), false);
  });
  it('! exceptions, last match wins', () => {
    const m = IgnoreMatcher.fromText('*.md\n!README*.md\nREADME-secret.md\n');
    assert.equal(m.matches('a.md'), true);
    assert.equal(m.matches('README.md'), false);
    assert.equal(m.matches('README-secret.md'), true);
    assert.equal(m.hasExclusions, true);
    const all = IgnoreMatcher.fromText('*\n!keep/**\n');
    assert.equal(all.matches('x'), true);
    assert.equal(all.matches('keep/a/b'), false);
  });
  it('** alone and escapes', () => {
    assert.equal(IgnoreMatcher.fromText('**').matches('a/b/c'), true);
    const m = IgnoreMatcher.fromText('a\\*b\n[xy].txt\n');
    assert.equal(m.matches('a*b'), true);
    assert.equal(m.matches('axb'), false);
    assert.equal(m.matches('x.txt'), true);
    assert.equal(m.matches('z.txt'), false);
  });
});
