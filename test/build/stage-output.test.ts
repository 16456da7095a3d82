// StageOutput: a stage's lines are held back until it is the stage being shown, then written in
// the order they were produced, and go straight through from then on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StageOutput } from '../../src/build/stage-output.js';

test('held lines come out in order when the stage is shown; later lines go straight through', () => {
  const written: string[] = [];
  const out = { stream: (t: string) => written.push(`stream:${t}`), status: (m: Record<string, unknown>) => written.push(`status:${String(m.status)}`) };
  const first = new StageOutput(out);
  const second = new StageOutput(out);
  second.stream('Step 3/4 : FROM busybox AS b\n');
  second.status({ status: 'Pulling from library/busybox' });
  first.show();
  first.stream('Step 1/4 : FROM busybox AS a\n');
  assert.deepEqual(written, ['stream:Step 1/4 : FROM busybox AS a\n'], 'the second stage waits while the first is shown');
  second.show();
  second.stream(' ---> abc\n');
  assert.deepEqual(written, [
    'stream:Step 1/4 : FROM busybox AS a\n',
    'stream:Step 3/4 : FROM busybox AS b\n',
    'status:Pulling from library/busybox',
    'stream: ---> abc\n',
  ]);
  second.show();
  assert.equal(written.length, 4, 'showing twice writes nothing twice');
});
