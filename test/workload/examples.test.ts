import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/util/package-root.js';
import { buildWorkload } from '../../src/workload/workload.js';
import { detectFormat } from '../../src/workload/trace.js';
import { traceStats } from '../../src/workload/stats.js';

const traces = join(PACKAGE_ROOT, 'traces');

// The shipped examples (scripts/make-example-traces.ts): each is detected as its format and reads
// to the hand-counted number of requests.
const expected: [string, string, number][] = [
  ['default.jsonl', 'jsonl', 2000],
  ['sharegpt.json', 'sharegpt', 4],
  ['bird/dev.json', 'bird', 5],
  ['mooncake.jsonl', 'mooncake', 12],
  ['azure.csv', 'azure', 20],
  ['burstgpt.csv', 'burstgpt', 15],
  ['aibrix.jsonl', 'aibrix', 5],
  ['vllm-bench.jsonl', 'vllm-bench', 6],
  ['shared-prefix.jsonl', 'jsonl', 8],
];

for (const [file, format, count] of expected) {
  test(`traces/${file}: detected as ${format}, ${count} requests`, async () => {
    const path = join(traces, file);
    assert.equal(detectFormat(path).name, format);
    const s = await traceStats(buildWorkload({ trace: path, seed: '1' }).requests, 16);
    assert.equal(s.requests, count);
    assert.ok(s.input_tokens.mean >= 1 && s.output_tokens.mean >= 1);
  });
}

test('traces/sharegpt.json as multi-turn sessions: 8 turns in 5 conversations, reusing their history', async () => {
  const s = await traceStats(buildWorkload({ trace: join(traces, 'sharegpt.json'), multiTurn: true, seed: '1' }).requests, 16);
  assert.equal(s.requests, 8);
  assert.equal(s.sessions, 5);
  assert.ok(s.prefix_reuse > 0.2, String(s.prefix_reuse));
});

test('a mix of the examples keeps each source sorted, labelled and at its own rate', async () => {
  const w = buildWorkload({ mix: `${join(traces, 'sharegpt.json')}:7,${join(traces, 'bird/dev.json')}:4`, seed: '2', duration: '20' });
  let last = 0;
  const bySource = new Map<string, number>();
  for await (const r of w.requests) {
    assert.ok(r.arrivalS >= last);
    last = r.arrivalS;
    bySource.set(r.source as string, (bySource.get(r.source as string) ?? 0) + 1);
    assert.ok(r.id.startsWith(`${r.source}/`));
  }
  // The sources repeat to fill 20 s: about 7 × 20 and 4 × 20 requests.
  const sg = bySource.get('sharegpt') as number;
  const bird = bySource.get('dev') as number;
  assert.ok(sg > 100 && sg < 180, `sharegpt ${sg}`);
  assert.ok(bird > 55 && bird < 110, `bird ${bird}`);
  assert.ok(last <= 20);
});
