import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { registerMockWorker } from '../../src/cli/mock-worker.js';
import { DEFAULTS } from '../../src/defaults.js';

test('mock-worker --kv-link-gbps/--kv-link-latency-us default to the simulator\'s cross-node link (DEFAULTS.pd)', () => {
  const program = new Command();
  registerMockWorker(program);
  const cmd = program.commands.find((c) => c.name() === 'mock-worker');
  assert.ok(cmd);
  const opt = (flag: string): unknown => cmd.options.find((o) => o.long === flag)?.defaultValue;
  assert.equal(opt('--kv-link-gbps'), String(DEFAULTS.pd.rdmaGbps));
  assert.equal(opt('--kv-link-latency-us'), String(DEFAULTS.pd.rdmaLatencyUs));
});
