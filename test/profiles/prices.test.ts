import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gpuCatalog } from '../../src/profiles/catalog.js';

test('GPU prices are per GPU-hour on one basis, each with its source: no node-rate outliers', () => {
  const gpus = gpuCatalog();
  const price = (id: string): number => {
    const g = gpus.get(id);
    assert.ok(g, id);
    return g.cost_usd_per_hour;
  };
  for (const [id, g] of gpus) {
    const note = (g as { cost_note?: unknown }).cost_note;
    assert.ok(g.cost_usd_per_hour > 0, `${id}: price`);
    assert.ok(typeof note === 'string' && note.length > 20, `${id}: cost_note names the source`);
    // The dearest single GPU rents for a few dollars an hour; above that is an instance or node price.
    assert.ok(g.cost_usd_per_hour < 8, `${id}: $${g.cost_usd_per_hour}/h is not a per-GPU price`);
  }
  // Same silicon, same basis: SXM and PCIe H100 within 1.5x (was $12.29 vs $2.49).
  assert.ok(price('h100-sxm') / price('h100-pcie') <= 1.5, `h100-sxm ${price('h100-sxm')} vs h100-pcie ${price('h100-pcie')}`);
  // Newer or bigger parts of one family cost at least as much.
  assert.ok(price('h200') >= price('h100-sxm'));
  assert.ok(price('b200') >= price('h200'));
  assert.ok(price('h100-sxm') >= price('a100-80g-sxm'));
  assert.ok(price('a100-80g-sxm') >= price('a100-40g-sxm'));
  assert.ok(price('l40s') >= price('l4'));
});
