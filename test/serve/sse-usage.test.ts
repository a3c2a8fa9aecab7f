import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lastCompletionTokens, SseUsageCounter } from '../../src/serve/sse-usage.js';
import { createRng } from '../../src/util/rng.js';

/** What the counter used to do: the last regex match in the latin1-decoded tail. */
function byRegex(buf: Buffer, from: number): number | undefined {
  let last: string | undefined;
  for (const m of buf.subarray(from).toString('latin1').matchAll(/"completion_tokens"\s*:\s*(\d+)/g)) last = m[1];
  return last === undefined ? undefined : Number(last);
}

test('lastCompletionTokens: hand-checked cases', () => {
  const b = (s: string): Buffer => Buffer.from(s, 'latin1');
  assert.equal(lastCompletionTokens(b('{"usage":{"completion_tokens":16}}'), 0), 16);
  assert.equal(lastCompletionTokens(b('"completion_tokens" :\t\n 7,"completion_tokens":9'), 0), 9);
  // The last key without a number does not hide an earlier valid one.
  assert.equal(lastCompletionTokens(b('"completion_tokens":3 "completion_tokens":null'), 0), 3);
  assert.equal(lastCompletionTokens(b('"completion_tokens":\xa012'), 0), 12);
  assert.equal(lastCompletionTokens(b('"completion_tokens":'), 0), undefined);
  assert.equal(lastCompletionTokens(b('"completion_tokens":5'), 1), undefined);
  assert.equal(lastCompletionTokens(b(''), 0), undefined);
});

test('lastCompletionTokens agrees with the regular expression on random byte soups', () => {
  const rng = createRng(11);
  const pieces = ['"completion_tokens"', ':', ' ', '\t', '\xa0', '\x85', '1', '23', '0', 'x', '"', ',', '}', 'data: ', '"completion_tokens":4', '\n'];
  for (let n = 0; n < 3000; n++) {
    let s = '';
    const len = 1 + Math.floor(rng.next() * 12);
    for (let i = 0; i < len; i++) s += pieces[Math.floor(rng.next() * pieces.length)];
    const buf = Buffer.from(s, 'latin1');
    const from = Math.floor(rng.next() * Math.min(buf.length, 8));
    assert.equal(lastCompletionTokens(buf, from), byRegex(buf, from), JSON.stringify({ s, from }));
  }
});

test('SseUsageCounter: usage in the last event wins, else data events minus [DONE]', () => {
  const c = new SseUsageCounter();
  for (let i = 0; i < 5; i++) c.observe(Buffer.from(`data: {"choices":[{"delta":{"content":"x"}}]}\n\n`), true);
  c.observe(Buffer.from('data: [DONE]\n\n'), true);
  assert.equal(c.outputTokens(), 5);
  c.reset();
  assert.equal(c.outputTokens(), undefined);
  c.observe(Buffer.from('data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":42}}\n\n'), true);
  c.observe(Buffer.from('data: [DONE]\n\n'), true);
  assert.equal(c.outputTokens(), 42);
  c.reset();
  // A JSON body: usage read from the tail even when it spans chunks.
  c.observe(Buffer.from('{"usage":{"completion_to'), false);
  c.observe(Buffer.from('kens": 8}}'), false);
  assert.equal(c.outputTokens(), 8);
});
