import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { GOLDEN_TRACES, goldenFile, goldenPolicies, goldenRequestsCsv } from '../helpers/golden.js';

const write = process.env.GOLDEN_WRITE === '1';

for (const trace of GOLDEN_TRACES) {
  test(`golden requests.csv: every policy on the ${trace.name} trace is byte-identical to its recorded run`, async (t) => {
    if (trace.flags() === undefined) {
      t.skip(`no ../shared/data for the ${trace.name} trace`);
      return;
    }
    const missing: string[] = [];
    const differ: string[] = [];
    for (const policy of goldenPolicies()) {
      const csv = await goldenRequestsCsv(trace, policy);
      assert.ok(csv !== undefined);
      const file = goldenFile(trace.name, policy);
      if (write) {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, csv);
        continue;
      }
      if (!existsSync(file)) missing.push(policy);
      else if (readFileSync(file, 'utf8') !== csv) differ.push(policy);
    }
    assert.deepEqual({ missing, differ }, { missing: [], differ: [] }, `golden mismatch on ${trace.name}`);
  });
}
