/**
 * Writes traces/default.jsonl, the trace `router simulate` uses when no --trace is given:
 * 2,000 chat-like requests, Poisson at 12 req/s, ShareGPT-like lengths (lognormal), and 16
 * system-prompt groups of 1,024 tokens so prefix caching and cache-aware routing matter.
 * Run: npm run build && node dist/scripts/make-default-trace.js
 */
import { writeFileAtomic } from '../src/util/atomic-write.js';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/util/package-root.js';
import { syntheticRequests } from '../src/workload/synthetic.js';
import { formatNativeLine } from '../src/workload/native-jsonl.js';

const lines: string[] = [];
for (const r of syntheticRequests({
  seed: 2026,
  rate: 12,
  count: 2000,
  input: { kind: 'lognormal', mean: 400, sigma: 1.0, min: 8, max: 6000 },
  output: { kind: 'lognormal', mean: 250, sigma: 0.8, min: 4, max: 2000 },
  sharedPrefix: { groups: 16, prefixTokens: 1024, blockTokens: 16 },
})) {
  lines.push(formatNativeLine(r));
}
writeFileAtomic(join(PACKAGE_ROOT, 'traces', 'default.jsonl'), `${lines.join('\n')}\n`);
process.stdout.write(`wrote traces/default.jsonl (${lines.length} requests)\n`);
