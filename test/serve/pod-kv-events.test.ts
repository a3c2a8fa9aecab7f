import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { podState, sameSpec, type PodMapping } from '../../src/serve/discovery/pod-worker.js';

const mapping: PodMapping = { port: 8000, portAnnotation: 'router/port', labelPrefix: 'router/', roleLabel: 'router/role' };

function pod(ip: string, annotations: Record<string, string>): V1Pod {
  return {
    metadata: { name: 'vllm-0', namespace: 'llm', annotations, labels: { app: 'vllm' } },
    status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

test('kubernetes discovery: router/kv-events-port gives the worker its KV event endpoint on the pod IP', () => {
  const s = podState(pod('10.1.0.7', { 'router/kv-events-port': '5557' }), mapping);
  assert.ok(s.ready);
  assert.equal(s.spec.url, 'http://10.1.0.7:8000');
  assert.equal(s.spec.kvEvents, 'tcp://10.1.0.7:5557');
  const v6 = podState(pod('fd00::7', { 'router/kv-events-port': '5557' }), mapping);
  assert.ok(v6.ready);
  assert.equal(v6.spec.kvEvents, 'tcp://[fd00::7]:5557');
  const none = podState(pod('10.1.0.7', {}), mapping);
  assert.ok(none.ready);
  assert.equal(none.spec.kvEvents, undefined, 'no annotation: no subscription (as without the label)');
  // A changed endpoint re-registers the worker (the subscription follows).
  assert.equal(sameSpec(s.spec, none.spec), false);
  assert.equal(sameSpec(s.spec, { ...s.spec }), true);
});

test('kubernetes discovery: a bad router/kv-events-port skips the pod with one line naming it', () => {
  const s = podState(pod('10.1.0.7', { 'router/kv-events-port': 'zmq' }), mapping);
  assert.equal(s.ready, false);
  assert.ok('invalid' in s && s.invalid);
  assert.equal(s.why, 'pod llm/vllm-0: annotation router/kv-events-port="zmq" is not a port (1-65535)');
});
