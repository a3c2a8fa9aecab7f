import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'router-trace-cli-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** What `trace stats --json` prints (the fields these tests read). */
interface TraceStats { requests: number; duration_s: number; rate_rps: number; input_tokens: Record<string, number>; output_tokens: Record<string, number>; prefix_reuse: number }

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = runCli(args, { cwd: dir });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function userError(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line, no stack: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
}

test('a malformed line or record exits 2 naming file, line and field', () => {
  writeFileSync(join(dir, 'bad.jsonl'), '{"arrival_s": 0, "input_tokens": 5, "output_tokens": 3}\n{"arrival_s": 1, "input_tokens": "many", "output_tokens": 3}\n');
  userError(run('trace', 'stats', 'bad.jsonl'), /^router: bad\.jsonl:2: field "input_tokens": expected an integer >= 1, got "many"$/m);
  userError(run('simulate', '--trace', 'bad.jsonl'), /bad\.jsonl:2: field "input_tokens"/);
  writeFileSync(join(dir, 'bad.json'), '[\n {"id": "x", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt"}]}\n]');
  userError(run('trace', 'stats', 'bad.json'), /bad\.json:2: record 0, field "conversations\[1\]\.value": expected a string, got nothing/);
  writeFileSync(join(dir, 'bad.csv'), 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:47.0000000,12,-4');
  userError(run('simulate', '--trace', 'bad.csv'), /bad\.csv:3: field "GeneratedTokens": expected an integer >= 0, got "-4"/);
});

test('bad workload flags exit 2', () => {
  writeFileSync(join(dir, 'ok.jsonl'), '{"arrival_s": 0, "input_tokens": 5, "output_tokens": 3}\n');
  userError(run('simulate', '--trace', 'ok.jsonl', '--rate', '0'), /--rate: expected a number > 0, got "0"/);
  userError(run('simulate', '--trace', 'ok.jsonl', '--arrival', 'gamma'), /--arrival gamma: needs --rate R/);
  userError(run('simulate', '--mix', 'ok.jsonl'), /--mix: "ok\.jsonl": expected FILE:RATE/);
  userError(run('simulate', '--trace', 'ok.jsonl', '--multi-turn'), /--multi-turn: applies to ShareGPT traces only/);
  userError(run('trace', 'synth', '--input-len', 'weird:3'), /--input-len: expected N, fixed:N/);
});

test('synth → stats → convert → head round trip', () => {
  const synth = run('trace', 'synth', '--groups', '4', '--prompts-per-group', '5', '--system-prompt-len', '320', '--question-len', '32', '--output-len', '64', '--rate', '20', '-o', 'gsp.jsonl');
  assert.equal(synth.code, 0, synth.stderr);
  const s = JSON.parse(run('trace', 'stats', 'gsp.jsonl', '--json').stdout) as TraceStats;
  assert.equal(s.requests, 20);
  assert.deepEqual(s.input_tokens, { mean: 352, p50: 352, p90: 352, p99: 352 });
  assert.equal(s.output_tokens.mean, 64);
  // 4 groups × 5 prompts: all but the first prompt of a group reuse its 320-token system prompt.
  assert.equal(s.prefix_reuse, (16 * 320) / (20 * 352));
  assert.ok(Object.keys(s).includes('rate_rps') && Object.keys(s).includes('duration_s'));

  writeFileSync(join(dir, 'sg.json'), JSON.stringify([
    { id: 'a', conversations: [{ from: 'human', value: 'Name three rivers.' }, { from: 'gpt', value: 'Nile, Amazon, Danube.' }] },
    { id: 'b', conversations: [{ from: 'human', value: 'And three lakes?' }, { from: 'gpt', value: 'Baikal, Victoria, Superior.' }] },
  ]));
  const conv = run('trace', 'convert', 'sg.json', '--to', 'jsonl', '--rate', '4', '--seed', '9', '-o', 'sg.jsonl');
  assert.equal(conv.code, 0, conv.stderr);
  const lines = readFileSync(join(dir, 'sg.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; input_tokens: number; token_ids: number[] });
  assert.deepEqual(lines.map((l) => l.id), ['a', 'b']);
  assert.equal(lines[0].token_ids.length, lines[0].input_tokens);
  const again = JSON.parse(run('trace', 'stats', 'sg.jsonl', '--json').stdout) as TraceStats;
  const orig = JSON.parse(run('trace', 'stats', 'sg.json', '--json', '--rate', '4', '--seed', '9').stdout) as TraceStats;
  assert.deepEqual({ ...again, duration_s: 0, rate_rps: 0 }, { ...orig, duration_s: 0, rate_rps: 0 });
  assert.ok(Math.abs(again.duration_s - orig.duration_s) < 1e-5);

  const head = run('trace', 'head', 'gsp.jsonl', '-n', '3');
  assert.equal(head.code, 0, head.stderr);
  const rows = head.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(rows.length, 3);
  assert.ok(!('token_ids' in rows[0]));
});
