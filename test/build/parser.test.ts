import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadDockerfile, type CopyCommand, type EnvCommand, type RunCommand } from '../../src/build/instructions.js';
import { DockerfileError, parseDockerfile } from '../../src/build/parser.js';

function fails(text: string, line: number, re: RegExp, file = 'Dockerfile'): void {
  assert.throws(
    () => loadDockerfile(text, file),
    (e: Error) => {
      assert.ok(e instanceof DockerfileError, String(e));
      assert.equal(e.line, line, e.message);
      assert.match(e.message, new RegExp(`^${file.replace('.', '\\.')}:${line}: `));
      assert.match(e.message, re);
      return true;
    },
  );
}

describe('Dockerfile parser', () => {
  it('directives, comments, continuations, case-insensitive keywords', () => {
    const p = parseDockerfile('# syntax=docker/dockerfile:1\n#  ESCAPE = `\n\nfrom busybox\nRUN echo a `\n  # comment inside\n b\n  run echo "x # not a comment"\n');
    assert.equal(p.escape, '`');
    assert.equal(p.syntax, 'docker/dockerfile:1');
    assert.deepEqual(p.instructions.map((i) => [i.cmd, i.rest, i.line]), [
      ['from', 'busybox', 4],
      ['run', 'echo a  b', 5],
      ['run', 'echo "x # not a comment"', 8],
    ]);
    assert.equal(p.instructions[1].endLine, 7);
  });
  it('directives only at the top; unknown directives are comments; each once', () => {
    assert.equal(parseDockerfile('# hello\n# escape=`\nFROM x\n').escape, '\\');
    assert.equal(parseDockerfile('FROM x\n# escape=`\n').escape, '\\');
    assert.equal(parseDockerfile('# foo=bar\n# escape=`\nFROM x\n').escape, '\\');
    fails('# escape=`\n# escape=\\\nFROM x\n', 2, /only one escape parser directive/);
    fails('# escape=x\nFROM x\n', 1, /invalid escape token/);
  });
  it('exec vs shell form: JSON arrays exactly', () => {
    const df = loadDockerfile('FROM x\nRUN ["echo", "a b"]\nRUN [echo, a]\nCMD ["a", 1]\nENTRYPOINT ["x"] \nCMD [ "sh" , "-c", "echo \\"hi\\"" ]\n');
    const [run1, run2, cmd1, ep, cmd2] = df.stages[0].commands as Array<RunCommand>;
    assert.deepEqual([run1.json, run1.args], [true, ['echo', 'a b']]);
    assert.deepEqual([run2.json, run2.args], [false, ['[echo, a]']]);
    assert.deepEqual([cmd1.json, cmd1.args], [false, ['["a", 1]']]);
    assert.deepEqual([ep.json, ep.args], [true, ['x']]);
    assert.deepEqual(cmd2.args, ['sh', '-c', 'echo "hi"']);
  });
  it('ENV and LABEL: key=value words with quotes, and the old "ENV key value" form', () => {
    const df = loadDockerfile('FROM x\nENV A=1 B="two words" C=three\\ words\nENV OLD some value here\nLABEL "com.x"="y" z=\n');
    const [e1, e2, l] = df.stages[0].commands as EnvCommand[];
    assert.deepEqual(e1.pairs, [{ key: 'A', value: '1' }, { key: 'B', value: '"two words"' }, { key: 'C', value: 'three\\ words' }]);
    assert.deepEqual(e2.pairs, [{ key: 'OLD', value: 'some value here' }]);
    assert.deepEqual(l.pairs, [{ key: '"com.x"', value: '"y"' }, { key: 'z', value: '' }]);
    fails('FROM x\nENV A=1 B\n', 2, /can't find = in "B"/);
    fails('FROM x\nENV A\n', 2, /ENV must have two arguments/);
  });
  it('ARG before FROM, stages, names case-insensitive', () => {
    const df = loadDockerfile('ARG BASE=busybox\nARG V\nFROM $BASE AS Build\nARG X=1 Y\nFROM build\nCOPY --from=build /a /b\n');
    assert.deepEqual(df.metaArgs.map((a) => a.args), [[{ key: 'BASE', value: 'busybox' }], [{ key: 'V' }]]);
    assert.equal(df.stages.length, 2);
    assert.equal(df.stages[0].name, 'build');
    assert.equal(df.stages[1].from.image, 'build');
    fails('FROM a AS x\nFROM b AS X\n', 2, /duplicate stage name/);
    fails('FROM a AS 1x\n', 1, /invalid name for build stage/);
    fails('FROM a b\n', 1, /FROM requires either one or three arguments/);
    fails('RUN x\nFROM a\n', 1, /no build stage in current context/);
  });
  it('errors name the file and line', () => {
    fails('FROM x\n\nFOO bar\n', 3, /unknown instruction: FOO/, 'app.Dockerfile');
    fails('FROM x\nCOPY onlyone\n', 2, /COPY requires at least two arguments/);
    fails('FROM x\nRUN --bogus=1 echo\n', 2, /unknown flag: bogus/);
    fails('FROM x\nSHELL /bin/bash -c\n', 2, /SHELL requires the arguments to be in JSON form/);
    fails('FROM x\nHEALTHCHECK --interval=abc CMD true\n', 2, /invalid duration/);
    fails('FROM x\nHEALTHCHECK FOO\n', 2, /Unknown type "FOO" in HEALTHCHECK/);
    fails('FROM x\nONBUILD ONBUILD RUN x\n', 2, /Chaining ONBUILD/);
    fails('FROM x\nONBUILD FROM y\n', 2, /FROM isn't allowed as an ONBUILD trigger/);
    fails('FROM x\nRUN <<EOF\necho\n', 2, /unterminated heredoc EOF/);
    fails('', 1, /cannot be empty/);
  });
  it('heredocs: <<EOF, <<-EOF, quoted delimiters, several per line', () => {
    const df = loadDockerfile(
      'FROM x\nRUN <<EOF\necho $A\n  indented\nEOF\nRUN <<-"END" cat\n\t\tstripped\n\tEND\nCOPY <<one <<\'two\' /dest/\n1\none\n2 $X\ntwo\nRUN echo "<<NOT" && echo done\nRUN ["sh", "-c", "cat <<EOF"]\n',
    );
    const [r1, r2, c, r3, r4] = df.stages[0].commands as unknown as Array<Omit<RunCommand, "kind"> & Omit<CopyCommand, "kind">>;
    assert.deepEqual(r1.heredocs, [{ name: 'EOF', content: 'echo $A\n  indented\n', expand: true, chomp: false, fd: undefined }]);
    assert.deepEqual(r2.heredocs, [{ name: 'END', content: 'stripped\n', expand: false, chomp: true, fd: undefined }]);
    assert.deepEqual(c.heredocs.map((h) => [h.name, h.content, h.expand]), [['one', '1\n', true], ['two', '2 $X\n', false]]);
    assert.deepEqual(c.sources, ['<<one', "<<'two'"]);
    assert.equal(c.dest, '/dest/');
    assert.deepEqual(r3.heredocs, []);
    assert.deepEqual(r4.heredocs, []);
    assert.equal(r4.line, 15);
  });
  it('COPY/ADD flags and JSON form; HEALTHCHECK; ONBUILD; VOLUME', () => {
    const df = loadDockerfile(
      'FROM x\nCOPY --from=b --chown=1:2 --chmod=755 ["a b", "/c"]\nADD --checksum=sha256:00 http://x/y /z\nHEALTHCHECK --interval=5s --retries=3 CMD ["curl", "x"]\nHEALTHCHECK CMD curl -f x\nHEALTHCHECK NONE\nONBUILD run echo hi\nVOLUME ["/a", "/b"]\nVOLUME /c /d\n',
    );
    const cmds = df.stages[0].commands;
    const cp = cmds[0] as CopyCommand;
    assert.deepEqual([cp.from, cp.chown, cp.chmod, cp.sources, cp.dest], ['b', '1:2', '755', ['a b'], '/c']);
    assert.equal((cmds[1] as CopyCommand).checksum, 'sha256:00');
    assert.deepEqual(cmds[2], { ...cmds[2], test: ['CMD', 'curl', 'x'], interval: 5e9, retries: 3 });
    assert.deepEqual((cmds[3] as { test: string[] }).test, ['CMD-SHELL', 'curl -f x']);
    assert.deepEqual((cmds[4] as { test: string[] }).test, ['NONE']);
    assert.equal((cmds[5] as { expression: string }).expression, 'run echo hi');
    assert.deepEqual((cmds[6] as { words: string[] }).words, ['/a', '/b']);
    assert.deepEqual((cmds[7] as { words: string[] }).words, ['/c', '/d']);
  });
  it('CRLF line endings and a BOM', () => {
    const df = loadDockerfile('\ufeffFROM x\r\nRUN a \\\r\n b\r\n');
    assert.equal((df.stages[0].commands[0] as RunCommand).args[0], 'a  b');
  });
});
