import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicy, policyFactories, policyFromConfig } from '../../src/routing/registry.js';

test('usesPrefix: exactly the policies that read prompt content get token ids in serve', () => {
  // The policies serve has always routed on counts only (the list it used to hard-code).
  const countOnly = ['least-request', 'round-robin', 'random', 'power-of-two', 'least-kv-cache', 'least-tokens', 'least-latency', 'vtc', 'session-affinity', 'consistent-hash', 'slo', 'slo-least-load', 'slo-pack-load'];
  for (const f of policyFactories()) {
    const p = createPolicy(f.name);
    assert.equal(p.usesPrefix !== false, !countOnly.includes(f.name), f.name);
  }
  // A profile reads the prompt when one of its plugins does.
  assert.equal(policyFromConfig({ name: 'loads', scorers: ['queue', 'kv-utilization'] }, 'p.yaml').usesPrefix, false);
  assert.equal(policyFromConfig({ name: 'cached', scorers: ['queue', 'prefix'] }, 'p.yaml').usesPrefix, true);
  assert.equal(createPolicy('weighted', { scorers: 'queue:1' }).usesPrefix, false);
});
