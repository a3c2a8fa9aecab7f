import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kvTransferSeconds, kvWireSeconds } from '../../src/engine/kv-transfer.js';

// Llama-3.1-8B: 32 layers × 8 KV heads × 128 dims × 2 (K,V) × 2 bytes = 131,072 bytes per token.
const LLAMA_8B_KV_BYTES = 131_072;
const RDMA = { gbps: 50, latencyUs: 20 };

test('a 2,000-token KV over a 50 GB/s link: 262,144,000 bytes in 5.24288 ms plus 20 µs', () => {
  assert.equal(kvWireSeconds(2000, LLAMA_8B_KV_BYTES, RDMA), 0.00524288);
  assert.ok(Math.abs(kvTransferSeconds(2000, LLAMA_8B_KV_BYTES, RDMA) - 0.00526288) < 1e-15);
});

test('layer-wise overlap hides the wire time behind a slower prefill, leaving the last layer', () => {
  // wire 5.24288 ms over 32 layers = 0.16384 ms per layer; prefill 100 ms keeps ahead of it.
  const t = kvTransferSeconds(2000, LLAMA_8B_KV_BYTES, RDMA, { layers: 32, prefillS: 0.1 });
  assert.ok(Math.abs(t - (20e-6 + 0.00524288 / 32)) < 1e-15);
});

test('layer-wise overlap over a slow link exposes what the prefill cannot hide', () => {
  const pcie = { gbps: 1, latencyUs: 0 };
  // wire 262.144 ms, prefill 32 ms in 32 layers: exposed = 262.144 − 31 × 1 ms = 231.144 ms.
  const t = kvTransferSeconds(2000, LLAMA_8B_KV_BYTES, pcie, { layers: 32, prefillS: 0.032 });
  assert.ok(Math.abs(t - 0.231144) < 1e-12);
});

test('nothing to move costs nothing', () => {
  assert.equal(kvTransferSeconds(0, LLAMA_8B_KV_BYTES, RDMA), 0);
});
