// Rotated container logs without a container: a writer that behaves as conmon does (appends
// through its own fd, reopens on request), rotations by rotateLogFiles/LogRotator, and readers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { logFileNames, rotateLogFiles } from '../../src/runtime/log-files.js';
import { conmonSizeCap, LogRotator } from '../../src/runtime/log-rotation.js';
import { readLogEntries, type LogEntry } from '../../src/runtime/logs.js';
import { daemonLogConfig, logPolicy, mergeLogConfig, BUILTIN_LOG_CONFIG } from '../../src/containers/log-config.js';

const dirs: string[] = [];
function tempLog(): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-logrot-'));
  dirs.push(dir);
  return join(dir, 'c-json.log');
}
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** conmon's side: append k8s-file lines through one fd; `reopen` starts a fresh live file. */
class FakeConmon {
  private fd: number;
  private n = 0;
  constructor(private readonly path: string) {
    this.fd = openSync(path, 'a');
  }
  write(count: number): void {
    let s = '';
    for (let i = 0; i < count; i++) s += `2026-11-28T13:00:00.${String(this.n).padStart(9, '0')}+00:00 stdout F line ${this.n++}\n`;
    writeSync(this.fd, s);
  }
  /** What conmon does on the ctl message, and on its own --log-size-max: a new file renamed over the log. */
  reopen(): void {
    closeSync(this.fd);
    const tmp = `${this.path}.tmp`;
    this.fd = openSync(tmp, 'w');
    renameSync(tmp, this.path);
  }
  close(): void {
    closeSync(this.fd);
  }
  get written(): number {
    return this.n;
  }
}

const text = (entries: LogEntry[]) => entries.map((e) => e.line.toString()).join('');
const expected = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `line ${from + i}\n`).join('');
const tick = () => new Promise((r) => setTimeout(r, 5));

async function collect(gen: AsyncGenerator<LogEntry>): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of gen) out.push(e);
  return out;
}

describe('rotated container logs', () => {
  test('rotation keeps max-file files, oldest dropped; logs reads them in order', async () => {
    const path = tempLog();
    const w = new FakeConmon(path);
    for (let r = 0; r < 5; r++) {
      w.write(10);
      rotateLogFiles(path, 3);
      w.reopen();
    }
    w.write(3);
    w.close();
    assert.deepEqual(logFileNames(path), [`${path}.2`, `${path}.1`, path]);
    assert.equal(text(await collect(readLogEntries(path))), expected(30, 53));
    assert.equal(text(await collect(readLogEntries(path, { tail: 12 }))), expected(41, 53));
  });

  test('max-file 1 keeps only the live file', async () => {
    const path = tempLog();
    const w = new FakeConmon(path);
    w.write(5);
    rotateLogFiles(path, 1);
    w.reopen();
    w.write(2);
    w.close();
    assert.deepEqual(readdirSync(join(path, '..')), ['c-json.log']);
    assert.equal(text(await collect(readLogEntries(path))), expected(5, 7));
  });

  for (const maxFile of [1, 2, 3]) {
    test(`follow across many rotations (max-file ${maxFile}) sees every line once, even while it lags`, async () => {
      const path = tempLog();
      const w = new FakeConmon(path);
      w.write(3);
      let done!: () => void;
      const exited = new Promise<void>((r) => (done = r));
      const reader = readLogEntries(path, { follow: true, untilExited: exited });
      const got: LogEntry[] = [];
      // Take the first entry, then stop reading while rotations go by: the reader lags.
      got.push((await reader.next()).value as LogEntry);
      for (let r = 0; r < 20; r++) {
        w.write(7);
        // Rotated before the writer reopens: what it writes meanwhile lands in `.1`.
        rotateLogFiles(path, maxFile);
        w.write(2);
        w.reopen();
        if (r % 5 === 0) await tick();
      }
      w.write(4);
      // conmon's own truncation (its hard cap) replaces the live file without berthd. It comes
      // after max-size + 1 MiB, so berthd has long seen the file it replaces: let it.
      await tick();
      w.reopen();
      w.write(3);
      await tick();
      done();
      for await (const e of reader) got.push(e);
      w.close();
      assert.equal(text(got), expected(0, w.written));
    });
  }

  test('LogRotator rotates at max-size and asks conmon (its ctl fifo) to reopen', async () => {
    const path = tempLog();
    const bundle = mkdtempSync(join(tmpdir(), 'berth-bundle-'));
    dirs.push(bundle);
    execFileSync('mkfifo', [join(bundle, 'ctl')]);
    const ctl = openSync(join(bundle, 'ctl'), constants.O_RDONLY | constants.O_NONBLOCK);
    const w = new FakeConmon(path);
    const rotator = new LogRotator(path, { maxSize: 1000, maxFile: 2 }, bundle);
    try {
      rotator.start();
      w.write(5);
      rotator.check();
      assert.ok(existsSync(path) && !existsSync(`${path}.1`), 'under max-size: no rotation');
      w.write(30);
      rotator.check();
      assert.ok(!existsSync(path) && existsSync(`${path}.1`), 'the live file became .1');
      const buf = Buffer.alloc(64);
      const n = (await import('node:fs')).readSync(ctl, buf, 0, 64, null);
      assert.equal(buf.subarray(0, n).toString(), '2 0 0\n');
      w.reopen();
      w.write(1);
      assert.ok(statSync(`${path}.1`).size >= 1000);
      assert.equal(readFileSync(path, 'utf8').split('\n').length, 2);
      assert.equal(text(await collect(readLogEntries(path))), expected(0, 36));
    } finally {
      rotator.stop();
      closeSync(ctl);
      w.close();
    }
  });

  test('conmon\'s cap is well above max-size, so berthd rotates first', () => {
    assert.equal(conmonSizeCap({ maxSize: 10_000_000, maxFile: 3 }), 20_000_000);
    assert.equal(conmonSizeCap({ maxSize: 10_000, maxFile: 2 }), 10_000 + 1024 * 1024);
  });
});

describe('log config', () => {
  test('docker\'s merge: the daemon\'s options fill in the container\'s when the drivers match', () => {
    assert.deepEqual(mergeLogConfig({ Type: '', Config: {} }, BUILTIN_LOG_CONFIG), BUILTIN_LOG_CONFIG);
    assert.deepEqual(mergeLogConfig(undefined, BUILTIN_LOG_CONFIG), BUILTIN_LOG_CONFIG);
    assert.deepEqual(mergeLogConfig({ Type: 'json-file', Config: { 'max-file': '5' } }, BUILTIN_LOG_CONFIG).Config, { 'max-file': '5', 'max-size': '10m' });
    assert.deepEqual(mergeLogConfig({ Type: 'none', Config: {} }, BUILTIN_LOG_CONFIG), { Type: 'none', Config: {} });
    assert.deepEqual(mergeLogConfig({ Type: 'k8s-file' }, BUILTIN_LOG_CONFIG), { Type: 'k8s-file', Config: {} });
  });

  test('sizes are go-units decimal, as docker reads max-size', () => {
    assert.deepEqual(logPolicy({ Type: 'json-file', Config: { 'max-size': '10k', 'max-file': '2' } }).rotation, { maxSize: 10_000, maxFile: 2 });
    assert.deepEqual(logPolicy(BUILTIN_LOG_CONFIG).rotation, { maxSize: 10_000_000, maxFile: 3 });
    assert.equal(logPolicy({ Type: 'json-file', Config: { 'max-size': '1.5MB' } }).rotation.maxSize, 1_500_000);
    assert.equal(logPolicy({ Type: 'none', Config: {} }).readable, false);
  });

  test('bad values and keys get docker\'s words', () => {
    const bad = (Config: Record<string, string>, Type = 'json-file') => () => logPolicy({ Type, Config });
    assert.throws(bad({ 'max-size': 'abc' }), { message: "failed to initialize logging driver: invalid size: 'abc'", status: 400 } as object);
    assert.throws(bad({ 'max-size': '0' }), /max-size must be a positive number/);
    assert.throws(bad({ 'max-size': '10q' }), /invalid suffix: 'q'/);
    assert.throws(bad({ 'max-file': '0' }), /max-file cannot be less than 1/);
    assert.throws(bad({ compress: 'maybe' }), /strconv.ParseBool: parsing "maybe": invalid syntax/);
    assert.throws(bad({ compress: 'true' }), /compress is not supported/);
    assert.throws(bad({ mode: 'fast' }), /logger: logging mode not supported: fast/);
    assert.throws(bad({ 'max-sise': '1k' }), /unknown log opt 'max-sise' for json-file log driver/);
    assert.throws(bad({}, 'local'), /logger: no log driver named 'local' is registered/);
    assert.doesNotThrow(bad({ tag: '{{.Name}}', labels: 'a', mode: 'non-blocking', compress: 'false' }));
  });

  test('daemon.json: berth\'s rotation defaults under the user\'s options; a bad value stops the daemon', () => {
    assert.deepEqual(daemonLogConfig(undefined, undefined), BUILTIN_LOG_CONFIG);
    assert.deepEqual(daemonLogConfig('json-file', { 'max-size': '1m' }).Config, { 'max-size': '1m', 'max-file': '3' });
    assert.deepEqual(daemonLogConfig('none', undefined), { Type: 'none', Config: {} });
    assert.throws(() => daemonLogConfig('json-file', { 'max-file': '0' }), /^Error: failed to set log opts: failed to initialize logging driver: max-file cannot be less than 1$|failed to set log opts/);
    assert.throws(() => daemonLogConfig('syslog', undefined), /no log driver named 'syslog'/);
  });
});
