import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RadixTree } from '../../src/routing/prefix/radix-tree.js';
import { prefixKey } from '../../src/routing/prefix/key.js';
import { blockReq, textReq } from './helpers.js';

const all = (): boolean => true;

test('match returns the deepest node with an eligible tenant, partial edges included', () => {
  const t = new RadixTree(1e9);
  t.insert('hello world', 0);
  t.insert('hello there', 1);
  let m = t.match('hello world again', all);
  assert.equal(m.matched, 11);
  assert.deepEqual([...(m.node?.tenants.keys() ?? [])], [0]);
  m = t.match('hello wo', all);
  assert.equal(m.matched, 8);
  m = t.match('hello xyz', all);
  assert.equal(m.matched, 6);
  assert.deepEqual([...(m.node?.tenants.keys() ?? [])].sort(), [0, 1]);
  // worker 0 ineligible: the "world" branch does not count, the shared "hello " does
  m = t.match('hello world', (w) => w !== 0);
  assert.equal(m.matched, 6);
  assert.deepEqual(t.match('zzz', all), { matched: 0, node: null });
});

test('per-tenant character counts follow splits and shared nodes', () => {
  const t = new RadixTree(1e9);
  t.insert('abcdef', 0);
  t.insert('abcxyz', 1);
  t.insert('abcdef', 1);
  assert.equal(t.tenantChars(0), 6);
  assert.equal(t.tenantChars(1), 9); // abc + xyz + def
  const out: number[] = [];
  t.matchByTenant('abcdeq', all, out);
  assert.deepEqual(out, [5, 5]);
  t.matchByTenant('abcxq', all, out);
  assert.equal(out[1], 4);
});

test('eviction keeps a tenant within max_tree_size, least recently used leaves first', () => {
  const t = new RadixTree(30, 0.5);
  t.insert('aaaaaaaaaa', 0); // 10
  t.insert('bbbbbbbbbb', 0); // 20
  t.insert('cccccccccc', 1);
  t.insert('aaaaaaaaaa', 0); // refresh a
  t.insert('dddddddddd', 0); // 30
  assert.equal(t.tenantChars(0), 30);
  t.insert('eeeeeeeeee', 0); // 40 > 30 → evict to 15: b (oldest), then d, then...
  assert.ok(t.tenantChars(0) <= 15, `chars ${t.tenantChars(0)}`);
  assert.equal(t.match('bbbbbbbbbb', (w) => w === 0).matched, 0);
  assert.equal(t.match('eeeeeeeeee', (w) => w === 0).matched, 10);
  // tenant 1 untouched
  assert.equal(t.match('cccccccccc', (w) => w === 1).matched, 10);
  assert.ok(t.evictions >= 2);
});

test('eviction under a long random stream stays bounded and the tree stays consistent', () => {
  const t = new RadixTree(5000);
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const prefixes = Array.from({ length: 20 }, (_, i) => `system prompt ${i} `.repeat(10));
  for (let i = 0; i < 3000; i++) {
    const w = Math.floor(rnd() * 4);
    t.insert(prefixes[Math.floor(rnd() * 20)] + `question ${i} ${rnd()}`, w);
    for (let k = 0; k < 4; k++) assert.ok(t.tenantChars(k) <= 5000);
  }
  // recount characters from the tree itself
  const counted = [0, 0, 0, 0];
  const stack = [t.root];
  while (stack.length) {
    const n = stack.pop()!;
    for (const k of n.tenants.keys()) counted[k] += n.edge.length;
    if (n.children) for (const c of n.children.values()) {
      for (const k of c.tenants.keys()) assert.ok(n === t.root || n.tenants.has(k), 'tenant on child but not on parent');
      stack.push(c);
    }
  }
  for (let k = 0; k < 4; k++) assert.equal(counted[k], t.tenantChars(k));
});

test('removeTenant drops a worker everywhere and frees its branches', () => {
  const t = new RadixTree(1e9);
  t.insert('shared-prefix-1', 0);
  t.insert('shared-prefix-2', 1);
  const before = t.nodeCount;
  t.removeTenant(0);
  assert.equal(t.tenantChars(0), 0);
  assert.equal(t.match('shared-prefix-1', all).matched, 14);
  assert.deepEqual([...(t.match('shared-prefix-1', all).node?.tenants.keys() ?? [])], [1]);
  assert.ok(t.nodeCount < before);
});

test('prefix keys: text wins, else token or block identity; equal leading blocks give equal leading units', () => {
  assert.equal(prefixKey(textReq('hi there')).key, 'hi there');
  const a = prefixKey(blockReq([1, 2, 3])).key;
  const b = prefixKey(blockReq([1, 2, 4])).key;
  assert.equal(a.length, 9);
  assert.equal(a.slice(0, 6), b.slice(0, 6));
  assert.notEqual(a, b);
  const big = prefixKey(blockReq([2 ** 40 + 5])).key;
  assert.notEqual(big, prefixKey(blockReq([5])).key);
  const tok = prefixKey({ id: 't', arrivalS: 0, inputTokens: 3, prefix: { kind: 'tokens', ids: [70000, 1, 2] } }).key;
  assert.equal(tok.length, 6);
  assert.equal(prefixKey({ id: 'n', arrivalS: 0, inputTokens: 3 }).key, '');
});
