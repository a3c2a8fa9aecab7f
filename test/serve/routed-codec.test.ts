import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRouted, encodeRouted, ROUTED_VERSION } from '../../src/serve/state/routed-codec.js';

test('routed codec: a batch of decisions round-trips exactly (53-bit hashes, several block sizes, UTF-8 keys)', () => {
  const batch = {
    replica: 'host-1-ab',
    decisions: [
      { pool: 0, worker: 'http://10.0.0.1:8000', blocks: new Map([[16, [0, 1, 2 ** 53 - 1, 123_456_789_012_345]], [32, [42]]]) },
      { pool: 1, worker: 'http://wörker:1', blocks: new Map<number, number[]>() },
    ],
  };
  const buf = encodeRouted(batch);
  // 1 + 2 + 9 + 4, then (1 + 2 + 20 + 1 + (6 + 32) + (6 + 8)) and (1 + 2 + 16 (ö is two bytes) + 1)
  assert.equal(buf.length, 16 + 76 + 20);
  assert.equal(buf[0], ROUTED_VERSION);
  const back = decodeRouted(buf);
  assert.deepEqual(back, batch);
});

test('routed codec: another version, truncation, trailing bytes, bad hashes and garbage are rejected whole, never thrown', () => {
  const good = encodeRouted({ replica: 'r', decisions: [{ pool: 0, worker: 'w', blocks: new Map([[16, [7, 8]]]) }] });
  assert.ok(decodeRouted(good));
  const v2 = Buffer.from(good);
  v2[0] = 2;
  assert.equal(decodeRouted(v2), undefined);
  for (let cut = 0; cut < good.length; cut++) assert.equal(decodeRouted(good.subarray(0, cut)), undefined, `cut at ${cut}`);
  assert.equal(decodeRouted(Buffer.concat([good, Buffer.from([0])])), undefined);
  const neg = Buffer.from(good);
  neg.writeDoubleLE(-1, neg.length - 8);
  assert.equal(decodeRouted(neg), undefined);
  const frac = Buffer.from(good);
  frac.writeDoubleLE(1.5, frac.length - 8);
  assert.equal(decodeRouted(frac), undefined);
  assert.equal(decodeRouted(Buffer.from('garbage bytes, not a batch')), undefined);
  assert.equal(decodeRouted(Buffer.alloc(0)), undefined);
});
