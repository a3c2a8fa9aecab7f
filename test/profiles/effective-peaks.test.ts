import { test } from 'node:test';
import assert from 'node:assert/strict';
import { effectivePeaks } from '../../src/profiles/effective-peaks.js';
import { getGpu } from '../../src/profiles/catalog.js';

test('effective peaks: a GeForce boost raises the tensor peak, in-band ECC takes 1/16 of the bandwidth, others keep the datasheet', () => {
  // RTX 4090: 165.2 TFLOPS quoted at 2.52 GHz, held at 2.75 GHz → 165.2·2.75/2.52 = 180.277…; no ECC.
  const g = effectivePeaks(getGpu('rtx-4090'));
  assert.ok(Math.abs(g.tflops - (165.2 * 2.75) / 2.52) < 1e-9, String(g.tflops));
  assert.equal(g.bandwidthGbps, 1008);
  // A10: GDDR6 with ECC on → 600·15/16 = 562.5 GB/s; no boost fact → 125 TFLOPS.
  assert.deepEqual(effectivePeaks(getGpu('a10')), { tflops: 125, bandwidthGbps: 562.5 });
  // HBM datacenter part: the datasheet as is.
  assert.deepEqual(effectivePeaks(getGpu('a100-80g-sxm')), { tflops: 312, bandwidthGbps: 2039 });
});
