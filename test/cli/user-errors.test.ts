import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

/** One line naming the mistake, exit 2, no stack trace, nothing on stdout (no work was done). */
function expectOneLine(args: string[], expected: string): void {
  const r = runCli(args);
  assert.equal(r.status, 2, `exit code of ${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stderr, `router: ${expected}\n`, `stderr of ${args.join(' ')}`);
  assert.equal(r.stdout, '', `stdout of ${args.join(' ')}`);
}

test('paths of the wrong kind are one-line user errors (exit 2), checked before any work starts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-user-errors-'));
  try {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'keep');
    const traceDir = join(dir, 'traces');
    mkdirSync(traceDir);
    // A trace that fails at line 2: an output error reported instead proves the output was checked first.
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"arrival_s":0,"input_tokens":10,"output_tokens":5}\nnot json\n');
    const trace = join(REPO_ROOT, 'traces', 'default.jsonl');

    expectOneLine(['simulate', '--trace', traceDir], `${traceDir}: is a directory; expected a trace file`);
    expectOneLine(['simulate', '--trace', traceDir, '--format', 'jsonl'], `${traceDir}: is a directory; expected a trace file`);
    expectOneLine(['trace', 'stats', traceDir], `${traceDir}: is a directory; expected a trace file`);
    expectOneLine(['trace', 'head', traceDir], `${traceDir}: is a directory; expected a trace file`);
    expectOneLine(['simulate', '--trace', bad, '--out', file], `--out ${file}: exists and is not a directory; expected a directory for the reports`);
    expectOneLine(['simulate', '--trace', bad, '--out', join(file, 'sub')], `--out ${join(file, 'sub')}: ${file} is not a directory`);
    expectOneLine(['compare', '--trace', bad, '--out', file], `--out ${file}: exists and is not a directory; expected a directory for the reports`);
    expectOneLine(['compare', '--limit', '20', '--out', file], `--out ${file}: exists and is not a directory; expected a directory for the reports`);
    expectOneLine(['trace', 'convert', bad, '-o', traceDir], `--out ${traceDir}: is a directory; expected a file name`);
    expectOneLine(['trace', 'synth', '--count', '5', '-o', traceDir], `--out ${traceDir}: is a directory; expected a file name`);
    expectOneLine(['report', dir, '--html', '--out', traceDir], `--out ${traceDir}: is a directory; expected a file name`);
    expectOneLine(['replay', '--target', 'http://127.0.0.1:9', '--trace', trace, '--out', file], `--out ${file}: exists and is not a directory; expected a directory for the reports`);
    expectOneLine(['serve', '--workers', 'http://127.0.0.1:9', '--port', '99999'], '--port: expected an integer from 0 to 65535, got "99999"');
    expectOneLine(['mock-worker', '--gpu', 'l20', '--port', '70000'], '--port: expected an integer from 0 to 65535, got "70000"');
    // Nothing was written or replaced.
    assert.deepEqual(readdirSync(dir).sort(), ['a-file', 'bad.jsonl', 'traces']);
    assert.deepEqual(readdirSync(traceDir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
