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

/** Events the counter should see in one chunk: every `data:` (searched left to right), and whether one is `data: [DONE]` whole. */
function countByString(chunk: Buffer): { events: number; done: boolean } {
  const s = chunk.toString('latin1');
  let events = 0;
  let done = false;
  for (let i = s.indexOf('data:'); i >= 0; i = s.indexOf('data:', i + 5)) {
    events++;
    if (s.startsWith('data: [DONE]', i)) done = true;
  }
  return { events, done };
}

test('SseUsageCounter counts data events of any chunking like a string search, and an event cut by the chunk end does not throw', () => {
  const rng = createRng(5);
  const pieces = ['data: ', 'data:', 'data: [DONE]', 'data: [DON', '[DONE]', '{"x":1}', '\n\n', 'dat', 'a:', 'd', ' '];
  for (let n = 0; n < 3000; n++) {
    const chunks: Buffer[] = [];
    const k = 1 + Math.floor(rng.next() * 4);
    for (let c = 0; c < k; c++) {
      let s = '';
      const len = Math.floor(rng.next() * 8);
      for (let i = 0; i < len; i++) s += pieces[Math.floor(rng.next() * pieces.length)];
      chunks.push(Buffer.from(s, 'latin1'));
    }
    const counter = new SseUsageCounter();
    let events = 0;
    let done = false;
    for (const c of chunks) {
      counter.observe(c, true);
      const r = countByString(c);
      events += r.events;
      done ||= r.done;
    }
    const want = chunks.some((c) => c.length > 0) ? (events > 0 ? Math.max(0, events - (done ? 1 : 0)) : undefined) : undefined;
    assert.equal(counter.outputTokens(), want, JSON.stringify(chunks.map((c) => c.toString('latin1'))));
  }
  // The last event cut after `data: [DO`: counted as an event, not as the end marker.
  const c = new SseUsageCounter();
  c.observe(Buffer.from('data: {"a":1}\n\ndata: [DO'), true);
  assert.equal(c.outputTokens(), 2);
});
