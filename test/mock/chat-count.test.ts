import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCompletionCall } from '../../src/mock/openai.js';
import { promptIds } from '../../src/mock/tokenizer.js';
import { readInferenceBody } from '../../src/serve/parse-body.js';
import { promptTokenizer } from '../../src/serve/tokenize.js';

test('mock-worker and serve count a chat prompt alike (same messages → same fast token ids)', () => {
  const bodies = [
    { messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Sum 2 and 3.' }] },
    { messages: [{ role: 'user', content: 'line one\nline two' }, { role: 'assistant', content: 'ok' }, { role: 'user', content: [{ type: 'text', text: 'and ' }, { type: 'text', text: 'then?' }] }] },
    { messages: [{ role: 'user', content: 'single' }] },
  ];
  const serveCount = promptTokenizer('fast');
  for (const body of bodies) {
    const mock = promptIds(parseCompletionCall('chat', { ...body, max_tokens: 4 }), 'fast');
    const serve = Uint32Array.from(serveCount(readInferenceBody('chat', { ...body, max_tokens: 4 })));
    assert.deepEqual(mock, serve, JSON.stringify(body));
  }
});
