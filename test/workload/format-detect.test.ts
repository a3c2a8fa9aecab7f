import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectFormat } from '../../src/workload/trace.js';
import { runCli } from '../helpers/cli.js';

test('a failed detection names the known format the file nearly matched and what it lacks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-detect-'));
  try {
    const azure = join(dir, 'azure.csv');
    writeFileSync(azure, 'TIMESTAMP,ContextTokens\n2023-11-16 18:15:46.6805900,100\n');
    const r = runCli(['trace', 'stats', azure]);
    assert.equal(r.status, 2);
    assert.equal(
      r.stderr,
      `router: ${azure}: unrecognised trace format: nearest known format is azure (Azure LLM inference CSV (TIMESTAMP,ContextTokens,GeneratedTokens)); this file lacks column GeneratedTokens (header: TIMESTAMP,ContextTokens) (known: jsonl, vllm-bench, mooncake, aibrix, sharegpt, sharegpt-vllm, sharegpt-multi, bird, azure, burstgpt; pass --format)\n`,
    );

    const burst = join(dir, 'burst.csv');
    writeFileSync(burst, 'Timestamp,Model,Request tokens\n1,gpt,5\n');
    assert.throws(() => detectFormat(burst), /nearest known format is burstgpt .*lacks column Response tokens \(header: Timestamp,Model,Request tokens\)/);

    const mooncake = join(dir, 'mc.jsonl');
    writeFileSync(mooncake, '{"timestamp": 0, "input_length": 10, "output_length": 3}\n');
    assert.throws(() => detectFormat(mooncake), /nearest known format is mooncake .*lacks field hash_ids \(keys: timestamp, input_length, output_length\)/);

    const native = join(dir, 'native.jsonl');
    writeFileSync(native, '{"input_tokens": 10, "output_tokens": 3}\n');
    assert.throws(() => detectFormat(native), /nearest known format is jsonl .*lacks field arrival_s/);

    // Nothing close: the plain message, no guess.
    const other = join(dir, 'other.csv');
    writeFileSync(other, 'a,b\n1,2\n');
    assert.throws(() => detectFormat(other), (e: Error) => e.message === `${other}: unrecognised trace format (known: jsonl, vllm-bench, mooncake, aibrix, sharegpt, sharegpt-vllm, sharegpt-multi, bird, azure, burstgpt; pass --format)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
